"""Notify users in the app and by email (now, in a daily digest, or never), and unsubscribe them."""
import logging
import smtplib
import uuid
from dataclasses import dataclass
from email.message import EmailMessage

from flask import current_app, render_template, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from app.accounts.models import User
from app.core.logging import log_event
from app.core.models import utcnow
from app.core.redis import get_queue
from app.extensions import db
from app.notifications.models import EMAIL_MODES, KINDS, Notification, NotificationPreference

log = logging.getLogger(__name__)
DEFAULT_EMAIL_MODE = "immediate"
_UNSUBSCRIBE_SALT = "verdant-unsubscribe"


@dataclass(frozen=True)
class Notice:
    """One notification to create: who gets it, what kind, the words and where it points."""

    user_id: uuid.UUID
    kind: str
    text: str
    url: str


def notify(notices: list[Notice], *, actor_id: uuid.UUID | None = None) -> list[Notification]:
    """Store notifications (never for the actor), then queue emails for immediate readers."""
    rows = []
    for notice in notices:
        if notice.kind not in KINDS:
            raise ValueError(f"unknown notification kind {notice.kind!r}")
        if notice.user_id == actor_id:
            continue
        rows.append(Notification(user_id=notice.user_id, actor_id=actor_id, kind=notice.kind,
                                 text=notice.text[:300], url=notice.url[:300]))
    if not rows:
        return []
    db.session.add_all(rows)
    db.session.commit()
    modes = email_modes([row.user_id for row in rows])
    for row in rows:
        if modes[row.user_id] == "immediate":
            try:
                get_queue("slow").enqueue("app.notifications.jobs.email_notification", str(row.id))
            except RedisError:
                # The in-app notification is saved; losing its email beats failing the reply.
                log.warning("email not queued", extra={"event": "email_queue_failed",
                                                       "notification_id": str(row.id)})
    log_event("notified", "success", count=len(rows), kinds=sorted({r.kind for r in rows}))
    return rows


def unread_count(user: User) -> int:
    """Count the user's unread notifications."""
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def recent_notifications(user: User, limit: int = 50) -> list[Notification]:
    """Return the user's newest notifications, unread or not."""
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.created_at.desc()).limit(limit)))


def get_own_notification(user: User, notification_id: uuid.UUID) -> Notification | None:
    """Load a notification that belongs to `user`, or None (also for someone else's)."""
    row = db.session.get(Notification, notification_id)
    return row if row is not None and row.user_id == user.id else None


def mark_read(notification: Notification) -> None:
    """Mark one notification read."""
    if notification.read_at is None:
        notification.read_at = utcnow()
        db.session.commit()


def mark_all_read(user: User) -> int:
    """Mark every unread notification of the user read and return how many there were."""
    result = db.session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=utcnow()))
    db.session.commit()
    return result.rowcount or 0


def email_modes(user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Return each user's email mode, the default where they never chose."""
    chosen = dict(db.session.execute(select(NotificationPreference.user_id,
                                            NotificationPreference.email_mode)
                                     .where(NotificationPreference.user_id.in_(set(user_ids)))).all())
    return {user_id: chosen.get(user_id, DEFAULT_EMAIL_MODE) for user_id in user_ids}


def email_mode(user: User) -> str:
    """Return the user's email mode."""
    return email_modes([user.id])[user.id]


def set_email_mode(user_id: uuid.UUID, mode: str) -> None:
    """Choose how a user gets notification emails: immediate, daily or off."""
    if mode not in EMAIL_MODES:
        raise ValueError(f"unknown email mode {mode!r}")
    pref = db.session.scalar(select(NotificationPreference)
                             .where(NotificationPreference.user_id == user_id))
    if pref is None:
        pref = NotificationPreference(user_id=user_id)
        db.session.add(pref)
    pref.email_mode = mode
    db.session.commit()
    log_event("email_preference_changed", "success", target_user_id=str(user_id), mode=mode)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(user_id: uuid.UUID) -> str:
    """Sign a token that turns off this user's emails."""
    return _serializer().dumps(str(user_id))


def unsubscribe(token: str) -> User | None:
    """Turn emails off for the user the token names; None when the token is not genuine."""
    try:
        user_id = uuid.UUID(_serializer().loads(token))
    except (BadSignature, ValueError, TypeError):
        log_event("unsubscribe", "refused", level=logging.WARNING)
        return None
    user = db.session.get(User, user_id)
    if user is None:
        return None
    set_email_mode(user.id, "off")
    log_event("unsubscribe", "success", target_user_id=str(user.id))
    return user


def _absolute(path: str) -> str:
    return current_app.config["SITE_URL"].rstrip("/") + path


def _unsubscribe_url(user_id: uuid.UUID) -> str:
    # Jobs have no request, so build the path in a throwaway one.
    with current_app.test_request_context():
        return _absolute(url_for("notifications.unsubscribe", token=unsubscribe_token(user_id)))


def send_email(to: str, subject: str, body: str, *, unsubscribe_url: str | None = None) -> None:
    """Send one plain-text email through SMTP, or log it when MAIL_SERVER is not set."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    if unsubscribe_url:
        # RFC 8058: mail clients offer a one-click button that POSTs to this URL.
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(body)
    if not config["MAIL_SERVER"]:
        log.info("email not sent (no MAIL_SERVER)", extra={"event": "email_logged", "to": to,
                                                            "subject": subject, "body": body})
        return
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=15) as smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(message)
    log_event("email_sent", "success", subject=subject)


def email_notification(notification_id: uuid.UUID) -> bool:
    """Email one notification now if its reader still wants immediate email; True when sent."""
    row = db.session.get(Notification, notification_id)
    if row is None or row.emailed_at is not None or row.read_at is not None:
        return False
    if email_mode(row.user) != "immediate":
        return False
    body = render_template("notifications/email.txt", notifications=[row],
                           site_url=current_app.config["SITE_URL"].rstrip("/"),
                           unsubscribe_url=_unsubscribe_url(row.user_id))
    send_email(row.user.email, f"Verdant: {row.text}"[:200], body,
               unsubscribe_url=_unsubscribe_url(row.user_id))
    row.emailed_at = utcnow()
    db.session.commit()
    return True


def send_daily_digests() -> int:
    """Email each daily-digest reader their unread, unemailed notifications; return emails sent."""
    daily = select(NotificationPreference.user_id).where(NotificationPreference.email_mode == "daily")
    rows = list(db.session.scalars(select(Notification).where(
        Notification.user_id.in_(daily), Notification.read_at.is_(None),
        Notification.emailed_at.is_(None)).order_by(Notification.created_at)))
    by_user: dict[uuid.UUID, list[Notification]] = {}
    for row in rows:
        by_user.setdefault(row.user_id, []).append(row)
    for user_id, items in by_user.items():
        user = items[0].user
        body = render_template("notifications/email.txt", notifications=items,
                               site_url=current_app.config["SITE_URL"].rstrip("/"),
                               unsubscribe_url=_unsubscribe_url(user_id))
        send_email(user.email, f"Verdant: {len(items)} new notification(s) today", body,
                   unsubscribe_url=_unsubscribe_url(user_id))
        now = utcnow()
        for item in items:
            item.emailed_at = now
        db.session.commit()
    return len(by_user)


DIGEST_EVERY_SECONDS = 24 * 3600


def register(app) -> None:
    """Send the daily digest from the workers' schedule; `flask notifications-digest` sends it now."""
    import click

    from app.core.registry import register_periodic_job
    register_periodic_job(app, "notifications-digest", send_daily_digests, DIGEST_EVERY_SECONDS)

    @app.cli.command("notifications-digest")
    def digest_command():
        """Queue the daily digest emails on the slow queue now."""
        job = get_queue("slow").enqueue("app.notifications.jobs.send_daily_digests")
        click.echo(f"queued {job.id}")
