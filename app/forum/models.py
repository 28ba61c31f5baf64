"""Forum tables: categories, threads, posts with revisions and images, reactions, reports, moderator log."""
import uuid
from datetime import datetime

from sqlalchemy import (JSON, DateTime, ForeignKey, Index, String, Text, UniqueConstraint, Uuid)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.core.models import Timestamps, UUIDPk, utcnow
from app.extensions import db

REACTIONS = ("like", "helpful", "thanks")
SUBSCRIPTION_STATES = ("watch", "mute")


class Category(UUIDPk, Timestamps, db.Model):
    __tablename__ = "forum_category"

    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int] = mapped_column(default=0)
    # None: everyone; otherwise the role needed to see the category (staff rooms).
    min_role: Mapped[str | None] = mapped_column(String(16))

    def __str__(self) -> str:
        return self.name


class Thread(UUIDPk, Timestamps, db.Model):
    __tablename__ = "forum_thread"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", name="uq_forum_thread_subject"),
        Index("ix_forum_thread_category_activity", "category_id", "pinned", "last_post_at"),
        Index("ix_forum_thread_last_post_at", "last_post_at"),
    )

    category_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("forum_category.id"))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    title: Mapped[str] = mapped_column(String(200))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    pinned: Mapped[bool] = mapped_column(default=False)
    locked: Mapped[bool] = mapped_column(default=False)
    hidden: Mapped[bool] = mapped_column(default=False)
    # No foreign key: the post also points at its thread, and a cycle would complicate deletes.
    accepted_post_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    view_count: Mapped[int] = mapped_column(default=0)
    post_count: Mapped[int] = mapped_column(default=0)
    last_number: Mapped[int] = mapped_column(default=0)
    last_post_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set for a thread embedded under another domain's object (species, blog post, ...).
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    category: Mapped[Category | None] = relationship(lazy="joined")
    author: Mapped[User] = relationship(lazy="joined")

    @property
    def solved(self) -> bool:
        return self.accepted_post_id is not None

    @property
    def reply_count(self) -> int:
        # An embedded thread has no opening post: every post there is a reply.
        return self.post_count if self.subject_type else max(self.post_count - 1, 0)

    def __str__(self) -> str:
        return self.title


class Post(UUIDPk, Timestamps, db.Model):
    __tablename__ = "forum_post"
    __table_args__ = (
        UniqueConstraint("thread_id", "number", name="uq_forum_post_thread_number"),
        UniqueConstraint("author_id", "nonce", name="uq_forum_post_author_nonce"),
        Index("ix_forum_post_author_id", "author_id"),
    )

    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("forum_thread.id"))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    number: Mapped[int]  # 1, 2, 3... within the thread: pagination and "what is new" use it
    body: Mapped[str] = mapped_column(Text)  # the author's Markdown
    html: Mapped[str] = mapped_column(Text)  # rendered and sanitised when written
    quoted_post_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # One per submitted form: a second submission of the same form finds the first post.
    nonce: Mapped[str | None] = mapped_column(String(64))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_reason: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    thread: Mapped[Thread] = relationship()
    author: Mapped[User] = relationship(lazy="joined")
    images: Mapped[list["PostImage"]] = relationship(
        lambda: PostImage, lazy="selectin", order_by=lambda: PostImage.created_at)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def is_owned_by(self, user) -> bool:
        return bool(user and getattr(user, "is_authenticated", False) and user.id == self.author_id)

    def __str__(self) -> str:
        return f"#{self.number} in {self.thread_id}"


class PostRevision(UUIDPk, db.Model):
    __tablename__ = "forum_post_revision"

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("forum_post.id"), index=True)
    editor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    body: Mapped[str] = mapped_column(Text)  # the text as it was before this edit
    html: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    editor: Mapped[User] = relationship(lazy="joined")


class PostImage(UUIDPk, db.Model):
    __tablename__ = "forum_post_image"

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("forum_post.id"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int]
    height: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Reaction(UUIDPk, db.Model):
    __tablename__ = "forum_reaction"
    __table_args__ = (
        UniqueConstraint("post_id", "user_id", "kind", name="uq_forum_reaction_post_user_kind"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("forum_post.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Report(UUIDPk, db.Model):
    __tablename__ = "forum_report"
    __table_args__ = (
        UniqueConstraint("post_id", "reporter_id", name="uq_forum_report_post_reporter"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("forum_post.id"), index=True)
    reporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))

    post: Mapped[Post] = relationship(lazy="joined")
    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id], lazy="joined")


class Subscription(UUIDPk, db.Model):
    __tablename__ = "forum_subscription"
    __table_args__ = (
        UniqueConstraint("thread_id", "user_id", name="uq_forum_subscription_thread_user"),
    )

    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("forum_thread.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"), index=True)
    state: Mapped[str] = mapped_column(String(8))  # "watch" or "mute"


class ModAction(UUIDPk, db.Model):
    __tablename__ = "forum_mod_action"

    moderator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    action: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str] = mapped_column(String(16))  # "thread" or "post"
    target_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)

    moderator: Mapped[User] = relationship(lazy="joined")
