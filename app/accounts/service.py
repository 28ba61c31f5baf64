"""Account operations: register, authenticate, throttle sign-ins, roles, sessions."""
import hashlib
import logging
import math
import secrets
import uuid

from flask import current_app
from sqlalchemy import select

from app.accounts.models import ROLES, User
from app.accounts.passwords import hash_password, password_problem, verify_password
from app.core.logging import log_event
from app.core.models import utcnow
from app.core.redis import get_redis
from app.extensions import db

log = logging.getLogger(__name__)


class AccountError(ValueError):
    """A request the account rules refuse, with a message for the user."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def normalise_email(email: str) -> str:
    """Lower-case and trim an email address, so uniqueness ignores case."""
    return email.strip().lower()


def get_user(user_id: uuid.UUID | str) -> User | None:
    """Load a user by id, or None."""
    try:
        return db.session.get(User, uuid.UUID(str(user_id)))
    except ValueError:
        return None


def find_by_email(email: str) -> User | None:
    """Load a user by email, ignoring case."""
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def register_user(email: str, display_name: str, password: str, *, role: str = "member") -> User:
    """Create an account after checking the email is free and the password strong."""
    email = normalise_email(email)
    display_name = display_name.strip()
    problem = password_problem(password, email=email, display_name=display_name)
    if problem:
        raise AccountError(problem, "password")
    if find_by_email(email):
        raise AccountError("An account with that email already exists. Try signing in.", "email")
    user = User(email=email, display_name=display_name, password_hash=hash_password(password),
                role=role)
    db.session.add(user)
    db.session.commit()
    log_event("user_registered", "success", user_id=str(user.id))
    return user


def _throttle_keys(ip: str | None, email: str) -> list[str]:
    digest = hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]
    return [f"verdant:login-fail:ip:{ip or 'unknown'}", f"verdant:login-fail:acct:{digest}"]


def login_retry_after(ip: str | None, email: str) -> int | None:
    """Return seconds until sign-in is allowed again, or None when it is allowed now."""
    redis = get_redis()
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    for key in _throttle_keys(ip, email):
        count = redis.get(key)
        if count is not None and int(count) >= limit:
            return max(redis.ttl(key), 1)
    return None


def _record_failure(ip: str | None, email: str) -> None:
    window = current_app.config["LOGIN_FAILURE_WINDOW"]
    with get_redis().pipeline() as pipe:
        for key in _throttle_keys(ip, email):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        pipe.execute()


def authenticate(email: str, password: str, *, ip: str | None) -> User | None:
    """Return the user for these credentials, or None; failures count towards the throttle."""
    user = find_by_email(email)
    if verify_password(user.password_hash if user else None, password) and user.active:
        user.last_login_at = utcnow()
        db.session.commit()
        log_event("login", "success", user_id=str(user.id), ip=ip)
        return user
    _record_failure(ip, email)
    log_event("login", "failure", level=logging.WARNING, user_id=str(user.id) if user else None, ip=ip)
    return None


def lockout_minutes(seconds: int) -> int:
    """Round a retry delay up to whole minutes for the message."""
    return max(1, math.ceil(seconds / 60))


def new_session_id() -> str:
    """Return a random id for one signed-in session, so it can be revoked alone."""
    return secrets.token_urlsafe(16)


def revoke_session(session_id: str | None) -> None:
    """Revoke one session id (logout), for as long as a session could live."""
    if session_id:
        ttl = int(current_app.config["PERMANENT_SESSION_LIFETIME"])
        get_redis().set(f"verdant:revoked-session:{session_id}", 1, ex=ttl)


def session_revoked(session_id: str | None) -> bool:
    """Tell whether a session id was revoked by a logout."""
    return bool(session_id) and get_redis().exists(f"verdant:revoked-session:{session_id}") == 1


def revoke_all_sessions(user: User) -> None:
    """Log a user out everywhere: every session and remember-me cookie stops working."""
    user.session_epoch += 1
    db.session.commit()
    log_event("sessions_revoked", "success", user_id=str(user.id))


def load_session_user(token: str) -> User | None:
    """Return the user a session token names, if the token is still valid."""
    user_id, _, epoch = token.partition(":")
    user = get_user(user_id)
    if user is None or not user.active or str(user.session_epoch) != epoch:
        return None
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Change a password after checking the current one; revokes other sessions."""
    if not verify_password(user.password_hash, current):
        raise AccountError("Your current password is incorrect.", "current_password")
    problem = password_problem(new, email=user.email, display_name=user.display_name)
    if problem:
        raise AccountError(problem, "new_password")
    user.password_hash = hash_password(new)
    user.session_epoch += 1
    db.session.commit()
    log_event("password_changed", "success", user_id=str(user.id))


def update_profile(user: User, display_name: str) -> User:
    """Change what other gardeners see of a user."""
    user.display_name = display_name.strip()
    db.session.commit()
    return user


def set_role(user: User, role: str, *, by: User | None = None) -> User:
    """Give a user a role."""
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}.", "role")
    user.role = role
    db.session.commit()
    log_event("role_changed", "success", user_id=str(user.id), role=role,
              by=str(by.id) if by else None)
    return user


def create_or_promote_admin(email: str, password: str | None = None) -> tuple[User, bool]:
    """Make the account with this email an admin, creating it when needed; say if created."""
    user = find_by_email(email)
    if user:
        set_role(user, "admin")
        return user, False
    if not password:
        raise AccountError("A new admin account needs a password.", "password")
    name = normalise_email(email).split("@")[0][:64] or "admin"
    return register_user(email, name, password, role="admin"), True
