"""Admin views for the blog: posts (filter by status, author, category), categories, tags, series."""
from flask_admin.contrib.sqla.filters import FilterEqual

from app.admin.views import SecureModelView
from app.blog import service
from app.blog.models import STATUSES, Category, Post, Series, Tag
from app.extensions import db


class PostView(SecureModelView):
    can_create = False  # posts are written in the editor at /blog/manage, which keeps revisions
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


class CategoryView(SecureModelView):
    column_list = ("name", "slug", "description")
    form_columns = ("name", "slug", "description")
    column_searchable_list = ("name",)

    def after_model_change(self, form, model, is_created):
        service.bump_cache()


class TagView(SecureModelView):
    column_list = ("name", "slug")
    form_columns = ("name", "slug")
    column_searchable_list = ("name",)

    def after_model_change(self, form, model, is_created):
        service.bump_cache()


class SeriesView(SecureModelView):
    column_list = ("title", "slug", "description")
    form_columns = ("title", "slug", "description")
    column_searchable_list = ("title",)

    def after_model_change(self, form, model, is_created):
        service.bump_cache()


def register(admin) -> None:
    """Add the blog's views to the admin panel."""
    admin.add_view(PostView(Post, db, name="Posts", endpoint="admin_posts", category="Blog"))
    admin.add_view(CategoryView(Category, db, name="Categories", endpoint="admin_blog_categories",
                                category="Blog"))
    admin.add_view(TagView(Tag, db, name="Tags", endpoint="admin_blog_tags", category="Blog"))
    admin.add_view(SeriesView(Series, db, name="Series", endpoint="admin_blog_series",
                              category="Blog"))
