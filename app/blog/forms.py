"""Editor forms: a post, its scheduling and its images."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (BooleanField, DateTimeLocalField, IntegerField, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.blog.models import DIFFICULTIES


class PostForm(FlaskForm):
    title = StringField("Title", validators=[InputRequired(), Length(max=200)])
    slug = StringField("Slug", validators=[Optional(), Length(max=200)],
                       description="The address: /blog/<slug>. Leave empty to make one from the title.")
    summary = TextAreaField("Summary", validators=[Optional(), Length(max=500)],
                            description="One or two sentences for lists and feeds.")
    # The 200 KB limit is checked by the service, which answers 413 with its own message.
    body = TextAreaField("Body (Markdown)", validators=[Optional()],
                         description="Markdown: tables, footnotes, ``` code ```, "
                                     "![alt](url \"caption\") and [[species:slug]] cards.")
    categories = SelectMultipleField("Categories", choices=[], coerce=str,
                                     validators=[Optional()])
    tags = StringField("Tags", validators=[Optional(), Length(max=500)],
                       description="Comma-separated, e.g. watering, propagation.")
    species = StringField("Related species", validators=[Optional(), Length(max=1000)],
                          description="Comma-separated species slugs, e.g. monstera-deliciosa.")
    series = SelectField("Series", choices=[], coerce=str, validators=[Optional()])
    series_order = IntegerField("Order in series", validators=[Optional(), NumberRange(1, 1000)])
    difficulty = SelectField("Difficulty", validators=[Optional()],
                             choices=[("", "—")] + [(d, d.title()) for d in DIFFICULTIES])
    featured = BooleanField("Featured on the blog's front page")
    seo_description = StringField("SEO description", validators=[Optional(), Length(max=300)],
                                  description="For search engines and link previews; "
                                              "the summary is used when empty.")
    cover = FileField("Cover image", description="JPEG, PNG, WebP or HEIC.")
    social_image = FileField("Social image", description="Shown when the post is shared; "
                                                         "the cover is used when empty.")


class ScheduleForm(FlaskForm):
    publish_at = DateTimeLocalField("Publish at (UTC)", validators=[Optional()],
                                    format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                                    render_kw={"step": "1"})


class ImageForm(FlaskForm):
    image = FileField("Image for the body")
