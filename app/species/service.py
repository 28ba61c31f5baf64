"""Species operations shared by the catalogue and identification."""
import logging
import uuid
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.core.models import utcnow
from app.extensions import db
from app.species.models import Species, SpeciesCommonName, SpeciesDailyCount
from app.species.names import normalise_scientific_name, slugify_name

log = logging.getLogger(__name__)


def find_species(scientific_name: str) -> Species | None:
    """Return the species with this name (authorship and case ignored), or None."""
    name = normalise_scientific_name(scientific_name)
    return db.session.scalar(select(Species).where(Species.scientific_name == name))


def get_species(species_id: uuid.UUID) -> Species | None:
    """Return a species by id, or None."""
    return db.session.get(Species, species_id)


def get_or_create_species(scientific_name: str, *, authorship: str | None = None,
                          family: str | None = None, genus: str | None = None,
                          common_names: Iterable[str] = (), lang: str = "en") -> Species:
    """Return the species with this name, creating it from what a provider told us if new."""
    name = normalise_scientific_name(scientific_name)
    existing = find_species(name)
    if existing:
        return existing
    species = Species(scientific_name=name, slug=slugify_name(name), authorship=authorship,
                      family=family, genus=genus or name.split(" ")[0])
    species.common_names = [SpeciesCommonName(name=n, lang=lang, position=i)
                            for i, n in enumerate(dict.fromkeys(common_names))]
    db.session.add(species)
    try:
        db.session.commit()
    except IntegrityError:
        # Another request created it between our look-up and insert.
        db.session.rollback()
        return find_species(name)
    log.info("species created", extra={"event": "species_created", "species": name})
    return species


def record_identification(species_id: uuid.UUID) -> None:
    """Count one identification of a species, in total and for today."""
    today = utcnow().date()
    db.session.execute(update(Species).where(Species.id == species_id)
                       .values(identification_count=Species.identification_count + 1))
    updated = db.session.execute(
        update(SpeciesDailyCount)
        .where(SpeciesDailyCount.species_id == species_id, SpeciesDailyCount.day == today)
        .values(count=SpeciesDailyCount.count + 1)).rowcount
    if not updated:
        db.session.add(SpeciesDailyCount(species_id=species_id, day=today, count=1))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        record_identification(species_id)
