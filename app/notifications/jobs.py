"""RQ entry points for notification email, run on the slow queue."""
import uuid

from app.notifications import service


def email_notification(notification_id: str) -> bool:
    """Email one notification to its reader when they want immediate email."""
    return service.email_notification(uuid.UUID(notification_id))


def send_daily_digests() -> int:
    """Send the daily digest emails."""
    return service.send_daily_digests()
