"""Register, sign in, sign out and the profile page."""
import logging
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   session, url_for)
from flask_login import (current_user, login_required, login_user, logout_user,
                         user_loaded_from_cookie)
from redis.exceptions import RedisError

from app.accounts import service
from app.accounts.forms import LoginForm, PasswordForm, ProfileForm, RegisterForm
from app.core import messages
from app.core.pagecache import cached_page

bp = Blueprint("accounts", __name__, url_prefix="/accounts")
log = logging.getLogger(__name__)
# Marks a request whose session could not be checked against the revocation list (Redis down).
REVOCATION_UNCHECKED = "verdant.revocation_unchecked"


def safe_next(target: str | None) -> str:
    """Return `target` when it is a path on this site, else the home page."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("core.home")


def _reset_session() -> None:
    # A fresh session on every sign-in and sign-out (no fixation). The CSRF secret is kept:
    # htmx's hx-headers on <body> outlives a boosted navigation and still carries its token.
    csrf_secret = session.get("csrf_token")
    session.clear()
    if csrf_secret:
        session["csrf_token"] = csrf_secret


def _start_session(user, remember: bool) -> None:
    previous = dict(session)
    _reset_session()
    login_user(user, remember=remember)
    session["sid"] = service.new_session_id()
    # What the visitor did signed out (identifications kept in that session) becomes the account's.
    for hand_over in current_app.extensions.get("sign_in_handoffs", []):
        hand_over(user, previous)


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.profile"))
    if request.method == "GET":
        return cached_page("accounts", f"register:{request.full_path[:300]}", lambda **marks: render_template(
            "accounts/register.html", form=RegisterForm(formdata=None), **marks))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = service.register_user(form.email.data, form.display_name.data, form.password.data)
        except service.AccountError as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
        else:
            _start_session(user, remember=False)
            flash("Welcome to Verdant! Your account is ready.", "success")
            return redirect(safe_next(request.args.get("next")), 303)
    status = 422 if form.errors else 200
    return render_template("accounts/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if request.method == "GET":
        return cached_page("accounts", f"login:{request.full_path[:300]}", lambda **marks: render_template(
            "accounts/login.html", form=LoginForm(formdata=None), **marks))
    form = LoginForm()
    if request.method == "POST":
        retry_after = service.login_retry_after(request.remote_addr, form.email.data or "")
        if retry_after:
            message = messages.LOGIN_LOCKED.format(wait=messages.quantity(service.lockout_minutes(retry_after), "minute"))
            return (render_template("accounts/login.html", form=form, locked_message=message), 429,
                    {"Retry-After": str(retry_after)})
    if form.validate_on_submit():
        user = service.authenticate(form.email.data, form.password.data, ip=request.remote_addr)
        if user:
            _start_session(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")), 303)
        form.password.errors.append(messages.LOGIN_FAILED)
    status = 422 if form.errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
def logout():
    service.revoke_session(session.get("sid"))
    logout_user()
    _reset_session()
    flash("You're signed out. See you soon.", "info")
    return redirect(url_for("core.home"), 303)


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        service.update_profile(current_user, form.display_name.data)
        flash("Profile saved.", "success")
        return redirect(url_for("accounts.profile"), 303)
    status = 422 if form.errors else 200
    return render_template("accounts/profile.html", form=form, password_form=PasswordForm()), status


@bp.post("/password")
@login_required
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(current_user, form.current_password.data, form.new_password.data)
        except service.AccountError as exc:
            getattr(form, exc.field).errors.append(exc.message)
        else:
            _start_session(current_user._get_current_object(), remember=False)
            flash("Password changed. Other devices have been signed out.", "success")
            return redirect(url_for("accounts.profile"), 303)
    return render_template("accounts/profile.html", form=ProfileForm(obj=current_user),
                           password_form=form), 422


@bp.post("/sessions/revoke")
@login_required
def logout_everywhere():
    service.revoke_all_sessions(current_user)
    logout_user()
    _reset_session()
    flash("You're signed out on every device.", "info")
    return redirect(url_for("accounts.login"), 303)


def init_login(app) -> None:
    """Wire Flask-Login to our users and session revocation."""
    from app.extensions import login

    login.login_view = "accounts.login"
    login.login_message = "Please sign in to see that page."
    login.login_message_category = "info"
    login.session_protection = "strong"

    @login.user_loader
    def load_user(token: str):
        if not _session_usable():
            return None
        return service.load_session_user(token)

    @login.unauthorized_handler
    def unauthorized():
        if request.blueprint == "api" or request.path.startswith("/api/"):
            abort(401)
        flash(login.login_message, "info")
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))

    @user_loaded_from_cookie.connect_via(app)
    def new_session_from_cookie(sender, user):
        session["sid"] = service.new_session_id()


def _session_usable() -> bool:
    """Tell whether this request's session may sign its user in: it was not revoked by a logout.

    When Redis cannot say, the user counts as signed out for this request only: a revoked session must
    not pass, and the cookie is left as it is, so they are signed in again once Redis is back.
    """
    # Flask-Login asks again for a remember-me cookie: the same answer, without waiting on Redis twice.
    # Kept on the request, not in g: an app context (and its g) can outlive one request.
    if request.environ.get(REVOCATION_UNCHECKED):
        return False
    try:
        return not service.session_revoked(session.get("sid"))
    except RedisError:
        request.environ[REVOCATION_UNCHECKED] = True
        # user_id given, so the log filter does not ask for current_user, which is being loaded.
        log.warning("session revocation not checked: redis unreachable, signed out for this request",
                    extra={"event": "dependency_down", "dependency": "redis", "outcome": "signed_out",
                           "user_id": None})
        return False
