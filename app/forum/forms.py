"""Forum forms."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from app.core import messages
from app.forum.service import MAX_BODY

BODY_HINT = "Markdown works: **bold**, *italic*, > quotes, lists and links. Type @ and a name to mention someone."


class ThreadForm(FlaskForm):
    title = StringField("Title", validators=[InputRequired(), Length(min=3, max=200)])
    tags = StringField("Tags", validators=[Optional(), Length(max=200)],
                       description="Up to five, separated by commas, e.g. monstera, repotting")
    body = TextAreaField("Your question or story", description=BODY_HINT, validators=[
        InputRequired(messages.POST_EMPTY), Length(max=MAX_BODY, message=messages.POST_TOO_LONG)])
    nonce = HiddenField()


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply", description=BODY_HINT, validators=[
        InputRequired(messages.POST_EMPTY), Length(max=MAX_BODY, message=messages.POST_TOO_LONG)])
    quote = HiddenField()
    nonce = HiddenField()
    after = IntegerField(validators=[Optional()])


class EditForm(FlaskForm):
    body = TextAreaField("Text", validators=[
        InputRequired(messages.POST_EMPTY), Length(max=MAX_BODY, message=messages.POST_TOO_LONG)])


class ReportForm(FlaskForm):
    reason = StringField("Why should a moderator look at this?", validators=[Optional(), Length(max=500)])


class ModerationForm(FlaskForm):
    action = StringField(validators=[InputRequired(), Length(max=16)])
    reason = StringField("Reason", validators=[Optional(), Length(max=500)])
    category = SelectField("Move to", validators=[Optional()], validate_choice=False)
