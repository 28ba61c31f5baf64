"""Admin views for the forum: categories, threads, posts, the moderation queue and the moderator log."""
from flask import flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_admin.actions import action
from flask_login import current_user

from app.admin.views import AdminAccessMixin, SecureModelView
from app.extensions import db
from app.forum import service
from app.forum.models import Category, ModAction, Post, Report, Thread


class CategoryView(SecureModelView):
    column_list = ("position", "name", "slug", "description", "min_role")
    column_default_sort = "position"
    form_columns = ("name", "slug", "description", "position", "min_role")
    form_choices = {"min_role": [("", "Everyone"), ("moderator", "Moderators"), ("admin", "Admins")]}


class ThreadView(SecureModelView):
    can_create = False
    column_list = ("title", "category", "author", "pinned", "locked", "hidden", "post_count",
                   "subject_type", "last_post_at")
    column_searchable_list = ("title",)
    column_filters = ("pinned", "locked", "hidden", "subject_type")
    column_default_sort = ("last_post_at", True)
    form_columns = ("title", "category", "pinned", "locked", "hidden")


class PostView(SecureModelView):
    can_create = False
    can_edit = False
    column_list = ("thread", "number", "author", "hidden", "hidden_reason", "deleted_at", "created_at")
    column_filters = ("hidden", "created_at")
    column_searchable_list = ("body",)
    column_default_sort = ("created_at", True)
    column_details_exclude_list = ("nonce",)

    @action("hide", "Hide", "Hide the selected posts?")
    def action_hide(self, ids):
        self._moderate(ids, "hide")

    @action("restore", "Restore", "Restore the selected posts?")
    def action_restore(self, ids):
        self._moderate(ids, "restore")

    def delete_model(self, model: Post) -> bool:
        # Deleted as on the forum: the row stays (the thread keeps its numbering and says the post was
        # deleted) and the moderator log records who did it.
        try:
            service.delete_post(model, current_user)
        except service.ForumError as exc:
            flash(exc.message, "error")
            return False
        return True

    def _moderate(self, ids, what):
        for post_id in ids:
            post = self.get_one(post_id)
            if post is not None:
                service.moderate_post(post, current_user, what, "from the admin panel")
        flash("Done. The actions are in the moderator log.", "success")


class ReportLogView(SecureModelView):
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ("post", "reporter", "reason", "created_at", "resolved_at")
    column_filters = ("created_at", "resolved_at")
    column_default_sort = ("created_at", True)


class ModActionView(SecureModelView):
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ("created_at", "moderator", "action", "target_type", "target_id", "reason")
    column_filters = ("action", "target_type", "created_at")
    column_default_sort = ("created_at", True)


class ModerationQueueView(AdminAccessMixin, BaseView):
    """Reported posts, most reported first, with keep/hide decisions."""

    @expose("/", methods=["GET"])
    def index(self):
        return self.render("admin/forum_queue.html", queue=service.moderation_queue())

    @expose("/<post_id>", methods=["POST"])
    def decide(self, post_id):
        post = PostView(Post, db).get_one(post_id)
        decision = request.form.get("decision")
        if post is None or decision not in ("hide", "restore"):
            flash("Unknown post or decision.", "error")
        else:
            service.moderate_post(post, current_user, decision, request.form.get("reason", ""))
            flash("Reviewed. The decision is in the moderator log.", "success")
        return redirect(url_for(".index"), 303)


def register(admin) -> None:
    """Add the forum's views to the admin panel."""
    admin.add_view(ModerationQueueView(name="Moderation queue", endpoint="admin_forum_queue",
                                       category="Forum"))
    admin.add_view(CategoryView(Category, db, name="Categories", endpoint="admin_forum_categories",
                                category="Forum"))
    admin.add_view(ThreadView(Thread, db, name="Threads", endpoint="admin_forum_threads",
                              category="Forum"))
    admin.add_view(PostView(Post, db, name="Posts", endpoint="admin_forum_posts", category="Forum"))
    admin.add_view(ReportLogView(Report, db, name="Reports", endpoint="admin_forum_reports",
                                 category="Forum"))
    admin.add_view(ModActionView(ModAction, db, name="Moderator log", endpoint="admin_forum_log",
                                 category="Forum"))
