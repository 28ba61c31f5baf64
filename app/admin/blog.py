"""Admin views for the blog: posts (filter by status, author, category), categories, tags, series."""
from flask_admin.contrib.sqla.filters import FilterEqual
from wtforms.validators import Length, Optional

from app.admin.views import SecureModelView
from app.blog import service
from app.blog.models import STATUSES, Category, Post, Series, Tag
from app.extensions import db


class PostView(SecureModelView):
    # Posts are written and deleted in the editor at /blog/manage, which keeps revisions and
    # removes stored images and scheduled jobs along with a post.
    can_create = False
    can_delete = False
    column_list = ("title", "status", "author", "categories", "featured", "published_at",
                   "updated_at")
    column_searchable_list = ("title", "slug")
    column_filters = (
        FilterEqual(Post.status, "Status", options=[(s, s.title()) for s in STATUSES]),
        "author.display_name", "categories.name", "featured", "published_at",
    )
    column_default_sort = ("updated_at", True)
    form_columns = ("featured", "categories", "tags", "series", "series_order", "difficulty")
    column_details_exclude_list = ("body_html", "scheduled_job_id")

    def after_model_change(self, form, model, is_created):
        service.bump_cache()

    def after_model_delete(self, model):
        service.bump_cache()


class SluggedView(SecureModelView):
    """Fills in or cleans the slug from the name (or title) so URLs stay safe."""

    slug_source = "name"
    form_args = {"slug": {"validators": [Optional(), Length(max=200)],
                          "description": "Leave empty to make one from the name."}}

    def on_model_change(self, form, model, is_created):
        model.slug = service.slugify(model.slug or getattr(model, self.slug_source) or "")
        if not model.slug:
            raise ValueError("Give it a name with letters or digits.")

    def after_model_change(self, form, model, is_created):
        service.bump_cache()


class CategoryView(SluggedView):
    column_list = ("name", "slug", "description")
    form_columns = ("name", "slug", "description")
    column_searchable_list = ("name",)


class TagView(SluggedView):
    column_list = ("name", "slug")
    form_columns = ("name", "slug")
    column_searchable_list = ("name",)


class SeriesView(SluggedView):
    slug_source = "title"
    column_list = ("title", "slug", "description")
    form_columns = ("title", "slug", "description")
    column_searchable_list = ("title",)


def register(admin) -> None:
    """Add the blog's views to the admin panel."""
    admin.add_view(PostView(Post, db, name="Posts", endpoint="admin_posts", category="Blog"))
    admin.add_view(CategoryView(Category, db, name="Categories", endpoint="admin_blog_categories",
                                category="Blog"))
    admin.add_view(TagView(Tag, db, name="Tags", endpoint="admin_blog_tags", category="Blog"))
    admin.add_view(SeriesView(Series, db, name="Series", endpoint="admin_blog_series",
                              category="Blog"))
