"""Admin views: only admins get in; every view defines is_accessible."""
import uuid

from flask import Flask, abort, flash, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.actions import action
from flask_admin.babel import lazy_gettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user
from flask_wtf import FlaskForm

from app.accounts import service as accounts
from app.accounts.models import ROLES, User
from app.extensions import db


class AdminAccessMixin:
    """Admins only: anonymous visitors are sent to sign in, everyone else gets 403."""

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.is_admin

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        abort(403)


class SecureIndexView(AdminAccessMixin, AdminIndexView):
    @expose("/")
    def index(self):
        counts = {"Users": db.session.query(User).count()}
        return self.render("admin/dashboard.html", counts=counts)


class SecureModelView(AdminAccessMixin, ModelView):
    # Flask-WTF's form, so its token is the one the app-wide CSRFProtect checks.
    form_base_class = FlaskForm
    page_size = 50
    can_view_details = True

    def get_one(self, id):
        try:
            return db.session.get(self.model, uuid.UUID(str(id)))
        except ValueError:
            abort(404)

    @action("delete", lazy_gettext("Delete"), lazy_gettext("Are you sure you want to delete selected records?"))
    def action_delete(self, ids):
        # Flask-Admin filters on the ids as posted, and the Uuid column only binds UUID objects
        # (a string is a 500 on SQLite); an id that is not a UUID names no row.
        return super().action_delete(tuple(_uuids(ids)))


def _uuids(values):
    for value in values:
        try:
            yield uuid.UUID(str(value))
        except ValueError:
            continue


class UserView(SecureModelView):
    can_create = False
    can_delete = False
    column_list = ("email", "display_name", "role", "active", "created_at", "last_login_at")
    column_searchable_list = ("email", "display_name")
    column_filters = ("role", "active", "created_at")
    column_default_sort = ("created_at", True)
    form_columns = ("display_name", "role", "active")
    form_choices = {"role": [(role, role.title()) for role in ROLES]}
    column_details_exclude_list = ("password_hash", "google_sub")

    def on_model_change(self, form, model, is_created):
        if model.id == current_user.id and (model.role != "admin" or not model.active):
            raise ValueError("You can't remove your own admin access here.")

    @action("deactivate", "Deactivate", "Deactivate the selected accounts?")
    def action_deactivate(self, ids):
        for user_id in ids:
            user = accounts.get_user(user_id)
            if user and user.id != current_user.id:
                user.active = False
                accounts.revoke_all_sessions(user)
        flash("Selected accounts deactivated.", "success")


def init_admin(app: Flask) -> Admin:
    """Mount the admin panel at /admin with the views of every domain."""
    from app.admin import species as species_admin  # the domain modules import this one
    admin = Admin(app, name="Verdant admin", url="/admin",
                  index_view=SecureIndexView(url="/admin"),
                  theme=Bootstrap4Theme(swatch="default"),
                  csp_nonce_generator=lambda: getattr(request, "csp_nonce", ""))
    admin.add_view(UserView(User, db, name="Users", endpoint="admin_users"))
    species_admin.register(admin)
    from app.admin import forum
    forum.register(admin)
    from app.admin import blog
    blog.register(admin)
    from app.admin.identify import register as register_identify
    register_identify(admin)
    return admin
