"""Identification tables: one upload, its photos and its ranked species suggestions."""
import uuid
from datetime import datetime

from sqlalchemy import (JSON, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String,
                        UniqueConstraint, Uuid, false, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import Timestamps, UUIDPk
from app.extensions import db

STATUSES = ("queued", "running", "completed", "partial", "failed")
FINAL_STATUSES = frozenset({"completed", "partial", "failed"})
ORGANS = ("auto", "leaf", "flower", "fruit", "bark")


class Identification(UUIDPk, Timestamps, db.Model):
    __tablename__ = "identification"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'completed', 'partial', 'failed')",
                        name="status"),
        # A user's history, newest first (keyset pagination walks this index backwards).
        Index("ix_identification_owner_created", "owner_id", "created_at"),
        # High-confidence results, newest first.
        Index("ix_identification_confidence_created", "confidence", "created_at"),
        Index("ix_identification_session_created", "session_key", "created_at"),
        Index("ix_identification_public_created", "is_public", "created_at"),
        # The few finished identifications not yet added to their species' counts.
        Index("ix_identification_uncounted", "finished_at", postgresql_where=text("counted_at IS NULL"),
              sqlite_where=text("counted_at IS NULL")),
    )

    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"))
    # Anonymous uploads belong to the browser session that made them.
    session_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    cache_key: Mapped[str] = mapped_column(String(64))
    result: Mapped[list | None] = mapped_column(JSON)
    confidence: Mapped[float | None] = mapped_column(Float)
    providers: Mapped[list] = mapped_column(JSON, default=list)
    partial: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(String(300))
    is_public: Mapped[bool] = mapped_column(default=False)
    demo: Mapped[bool] = mapped_column(default=False)
    from_cache: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The gardener asked for a health assessment too; its answer (HealthAssessment.to_dict) when given.
    wants_health: Mapped[bool] = mapped_column(default=False, server_default=false())
    health: Mapped[dict | None] = mapped_column(JSON)
    # Set when the periodic count added this identification to its top species' counts.
    counted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    images: Mapped[list["IdentificationImage"]] = relationship(
        back_populates="identification", cascade="all, delete-orphan",
        order_by="IdentificationImage.position")
    suggestions: Mapped[list["IdentificationSuggestion"]] = relationship(
        back_populates="identification", cascade="all, delete-orphan",
        order_by="IdentificationSuggestion.rank")

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def top(self) -> "IdentificationSuggestion | None":
        return self.suggestions[0] if self.suggestions else None

    def __repr__(self) -> str:
        return f"<Identification {self.id} {self.status}>"


class IdentificationImage(UUIDPk, db.Model):
    __tablename__ = "identification_image"
    __table_args__ = (UniqueConstraint("identification_id", "position", name="uq_identification_image_position"),)

    identification_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("identification.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    storage_key: Mapped[str] = mapped_column(String(300))
    thumbnail_key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(40))
    organ: Mapped[str] = mapped_column(String(10), default="auto")
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    identification: Mapped[Identification] = relationship(back_populates="images")


class IdentificationSuggestion(UUIDPk, db.Model):
    __tablename__ = "identification_suggestion"
    __table_args__ = (UniqueConstraint("identification_id", "rank", name="uq_identification_suggestion_rank"),)

    identification_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("identification.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    species_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("species.id", ondelete="SET NULL"), index=True)
    scientific_name: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(Float)
    scores: Mapped[dict] = mapped_column(JSON, default=dict)
    providers: Mapped[list] = mapped_column(JSON, default=list)
    identification: Mapped[Identification] = relationship(back_populates="suggestions")
    species = relationship("Species")
