"""Blog tables: posts, their revisions, images and old slugs, categories, tags and series."""
import uuid
from datetime import datetime

from sqlalchemy import (CheckConstraint, Column, DateTime, ForeignKey, Index, String, Table, Text,
                        UniqueConstraint, Uuid, and_)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.core.models import Timestamps, UUIDPk, utcnow
from app.extensions import db
from app.species.models import Species

STATUSES = ("draft", "scheduled", "published", "archived")
DIFFICULTIES = ("beginner", "intermediate", "advanced")

post_category = Table(
    "post_category", db.metadata,
    Column("post_id", Uuid, ForeignKey("post.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", Uuid, ForeignKey("blog_category.id", ondelete="CASCADE"),
           primary_key=True, index=True),
)
post_tag = Table(
    "post_tag", db.metadata,
    Column("post_id", Uuid, ForeignKey("post.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", Uuid, ForeignKey("blog_tag.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)
post_species = Table(
    "post_species", db.metadata,
    Column("post_id", Uuid, ForeignKey("post.id", ondelete="CASCADE"), primary_key=True),
    Column("species_id", Uuid, ForeignKey("species.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)


class Category(UUIDPk, db.Model):
    __tablename__ = "blog_category"

    name: Mapped[str] = mapped_column(String(80), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str | None] = mapped_column(Text)

    def __str__(self) -> str:
        return self.name


class Tag(UUIDPk, db.Model):
    __tablename__ = "blog_tag"

    name: Mapped[str] = mapped_column(String(60), unique=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)

    def __str__(self) -> str:
        return self.name


class Series(UUIDPk, db.Model):
    __tablename__ = "blog_series"

    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)

    def __str__(self) -> str:
        return self.title


class Post(UUIDPk, Timestamps, db.Model):
    __tablename__ = "post"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'scheduled', 'published', 'archived')", name="status"),
        Index("ix_post_status_published_at", "status", "published_at"),
    )

    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    summary: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")  # rendered and sanitised on save
    status: Mapped[str] = mapped_column(String(16), default="draft")
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    series_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("blog_series.id", ondelete="SET NULL"), index=True)
    series_order: Mapped[int | None]
    difficulty: Mapped[str | None] = mapped_column(String(20))
    featured: Mapped[bool] = mapped_column(default=False)
    reading_minutes: Mapped[int] = mapped_column(default=1)
    seo_description: Mapped[str | None] = mapped_column(String(300))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scheduled_job_id: Mapped[str | None] = mapped_column(String(64))

    author: Mapped[User] = relationship()
    series: Mapped[Series | None] = relationship()
    categories: Mapped[list[Category]] = relationship(secondary=post_category,
                                                      order_by=Category.name)
    tags: Mapped[list[Tag]] = relationship(secondary=post_tag, order_by=Tag.name)
    species: Mapped[list[Species]] = relationship(secondary=post_species,
                                                  order_by=Species.scientific_name)
    revisions: Mapped[list["PostRevision"]] = relationship(
        lambda: PostRevision, back_populates="post", cascade="all, delete-orphan",
        order_by=lambda: PostRevision.number.desc())
    images: Mapped[list["PostImage"]] = relationship(
        lambda: PostImage, back_populates="post", cascade="all, delete-orphan",
        order_by=lambda: PostImage.created_at)
    cover: Mapped["PostImage | None"] = relationship(
        lambda: PostImage,
        primaryjoin=lambda: and_(PostImage.post_id == Post.id, PostImage.kind == "cover"),
        viewonly=True, uselist=False)
    social_image: Mapped["PostImage | None"] = relationship(
        lambda: PostImage,
        primaryjoin=lambda: and_(PostImage.post_id == Post.id, PostImage.kind == "social"),
        viewonly=True, uselist=False)

    @property
    def is_published(self) -> bool:
        return self.status == "published"

    def __str__(self) -> str:
        return self.title


class PostRevision(UUIDPk, db.Model):
    """What a post said after one save; restoring copies it back as a new revision."""

    __tablename__ = "post_revision"
    __table_args__ = (UniqueConstraint("post_id", "number"),)

    post_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("post.id", ondelete="CASCADE"),
                                               index=True)
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(String(200), default="")
    editor_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    post: Mapped[Post] = relationship(back_populates="revisions")
    editor: Mapped[User | None] = relationship()


class PostImage(UUIDPk, db.Model):
    """A cleaned image stored for a post: its cover, its social card or one inside its body."""

    __tablename__ = "post_image"
    __table_args__ = (CheckConstraint("kind IN ('cover', 'social', 'body')", name="kind"),)

    post_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("post.id", ondelete="CASCADE"),
                                               index=True)
    kind: Mapped[str] = mapped_column(String(10), default="body")
    key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int]
    height: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    post: Mapped[Post] = relationship(back_populates="images")


class PostSlug(UUIDPk, db.Model):
    """A slug a post used to have, kept so old links answer with a 301."""

    __tablename__ = "post_slug"

    post_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("post.id", ondelete="CASCADE"),
                                               index=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
