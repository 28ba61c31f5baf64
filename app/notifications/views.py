"""Notifications page, the bell's unread count, mark read, email settings and unsubscribe."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.core import messages
from app.extensions import csrf
from app.htmx import wants_fragment
from app.notifications import service
from app.notifications.models import EMAIL_MODES

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.get("/")
@login_required
def index():
    return render_template("notifications/index.html",
                           notifications=service.recent_notifications(current_user),
                           email_mode=service.email_mode(current_user), modes=EMAIL_MODES)


@bp.get("/bell")
@login_required
def bell():
    return render_template("notifications/_bell.html", count=service.unread_count(current_user))


@bp.post("/<uuid:notification_id>/read")
@login_required
def mark_read(notification_id):
    row = service.get_own_notification(current_user, notification_id)
    if row is None:
        abort(404)
    service.mark_read(row)
    if request.form.get("go") == "1":
        return redirect(row.url, 303)
    if wants_fragment():
        return render_template("notifications/_bell.html", count=service.unread_count(current_user),
                               oob=True)
    return redirect(url_for("notifications.index"), 303)


@bp.post("/read-all")
@login_required
def mark_all_read():
    service.mark_all_read(current_user)
    return redirect(url_for("notifications.index"), 303)


@bp.post("/email")
@login_required
def email_settings():
    mode = request.form.get("email_mode", "")
    if mode not in EMAIL_MODES:
        abort(422)
    service.set_email_mode(current_user.id, mode)
    flash(messages.EMAIL_PREFERENCE_SAVED, "success")
    return redirect(url_for("notifications.index"), 303)


@bp.get("/unsubscribe/<token>")
def unsubscribe(token):
    return render_template("notifications/unsubscribe.html", token=token, done=False)


@bp.post("/unsubscribe/<token>")
@csrf.exempt
def unsubscribe_confirm(token):
    # Exempt from CSRF: mail clients' one-click POST (RFC 8058) has no session; the signed
    # token is the credential, and all it can do is turn that one user's email off.
    user = service.unsubscribe(token)
    if user is None:
        return render_template("notifications/unsubscribe.html", token=token, done=False,
                               error=messages.UNSUBSCRIBE_BAD_LINK), 404
    return render_template("notifications/unsubscribe.html", token=token, done=True,
                           message=messages.UNSUBSCRIBED)
