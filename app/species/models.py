"""The Species table, shared by the catalogue and identification, with names and images."""
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import Timestamps, UUIDPk
from app.extensions import db

LIGHT_LEVELS = ("full_sun", "partial_sun", "bright_indirect", "medium", "low")
WATERING_LEVELS = ("low", "moderate", "high")
HUMIDITY_LEVELS = ("low", "medium", "high")
DIFFICULTIES = ("easy", "moderate", "hard")
# Fields enrichment may fill; an editor can lock any of them against automatic changes.
ENRICHABLE_FIELDS = (
    "authorship", "family", "genus", "rank", "description", "light", "watering", "soil",
    "humidity", "temperature_min_c", "temperature_max_c", "hardiness_zones", "toxic_to_pets",
    "toxic_to_people", "edible_parts", "propagation", "care_notes", "care_text",
)


class Species(UUIDPk, Timestamps, db.Model):
    __tablename__ = "species"
    __table_args__ = (
        Index("ix_species_identification_count", "identification_count"),
        Index("ix_species_family_name", "family", "scientific_name"),
    )

    scientific_name: Mapped[str] = mapped_column(String(200), unique=True)  # normalised
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    authorship: Mapped[str | None] = mapped_column(String(200))
    synonyms: Mapped[list] = mapped_column(JSON, default=list)
    family: Mapped[str | None] = mapped_column(String(100))
    genus: Mapped[str | None] = mapped_column(String(100))
    rank: Mapped[str] = mapped_column(String(20), default="species")
    description: Mapped[str | None] = mapped_column(Text)

    light: Mapped[str | None] = mapped_column(String(20))
    watering: Mapped[str | None] = mapped_column(String(20))
    soil: Mapped[str | None] = mapped_column(String(200))
    humidity: Mapped[str | None] = mapped_column(String(20))
    temperature_min_c: Mapped[int | None]
    temperature_max_c: Mapped[int | None]
    hardiness_zones: Mapped[str | None] = mapped_column(String(20))
    toxic_to_pets: Mapped[bool | None]
    toxic_to_people: Mapped[bool | None]
    edible_parts: Mapped[list] = mapped_column(JSON, default=list)
    propagation: Mapped[list] = mapped_column(JSON, default=list)
    indoor: Mapped[bool] = mapped_column(default=False)
    outdoor: Mapped[bool] = mapped_column(default=False)
    difficulty: Mapped[str | None] = mapped_column(String(20))
    care_notes: Mapped[str | None] = mapped_column(Text)
    care_text: Mapped[dict | None] = mapped_column(JSON)  # AI care instructions, when generated

    gbif_id: Mapped[str | None] = mapped_column(String(40))
    trefle_id: Mapped[str | None] = mapped_column(String(40))
    plantid_kb_id: Mapped[str | None] = mapped_column(String(40))
    identification_count: Mapped[int] = mapped_column(default=0)
    verified: Mapped[bool] = mapped_column(default=False)
    locked_fields: Mapped[list] = mapped_column(JSON, default=list)
    enriched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    common_names: Mapped[list["SpeciesCommonName"]] = relationship(
        back_populates="species", cascade="all, delete-orphan", order_by="SpeciesCommonName.position")
    images: Mapped[list["SpeciesImage"]] = relationship(
        back_populates="species", cascade="all, delete-orphan", order_by="SpeciesImage.position")

    @property
    def common_name(self) -> str | None:
        english = [n.name for n in self.common_names if n.lang == "en"]
        return (english or [n.name for n in self.common_names] or [None])[0]

    def is_locked(self, field: str) -> bool:
        return field in (self.locked_fields or [])

    def __repr__(self) -> str:
        return f"<Species {self.scientific_name}>"


class SpeciesCommonName(UUIDPk, db.Model):
    __tablename__ = "species_common_name"
    __table_args__ = (Index("ix_species_common_name_name", "name"),)

    species_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("species.id", ondelete="CASCADE"),
                                                  index=True)
    name: Mapped[str] = mapped_column(String(200))
    lang: Mapped[str] = mapped_column(String(8), default="en")
    position: Mapped[int] = mapped_column(default=0)
    species: Mapped[Species] = relationship(back_populates="common_names")


class SpeciesImage(UUIDPk, db.Model):
    __tablename__ = "species_image"

    species_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("species.id", ondelete="CASCADE"),
                                                  index=True)
    url: Mapped[str] = mapped_column(String(1000))
    attribution: Mapped[str | None] = mapped_column(String(300))
    license: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(default=0)
    species: Mapped[Species] = relationship(back_populates="images")


class SpeciesDailyCount(db.Model):
    """Identifications of a species per UTC day: "most identified this week" reads these."""

    __tablename__ = "species_daily_count"

    species_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("species.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    count: Mapped[int] = mapped_column(default=0)
