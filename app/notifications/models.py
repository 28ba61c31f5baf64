"""Notification rows and each user's email preference."""
import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.core.models import UUIDPk, utcnow
from app.extensions import db

KINDS = ("reply", "quote", "mention", "accepted", "moderation")
EMAIL_MODES = ("immediate", "daily", "off")


class Notification(UUIDPk, db.Model):
    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(300))  # plain text; templates escape it
    url: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class NotificationPreference(UUIDPk, db.Model):
    __tablename__ = "notification_preference"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"), unique=True)
    email_mode: Mapped[str] = mapped_column(String(16), default="immediate")
