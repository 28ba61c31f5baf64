"""Species operations shared by the catalogue and identification."""
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flask import url_for
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import load_only, selectinload

from app.core.models import utcnow
from app.extensions import db
from app.search.base import SearchHit
from app.search.service import highlight
from app.species import search_index
from app.species.models import LIGHT_LEVELS, WATERING_LEVELS, Species, SpeciesCommonName, SpeciesDailyCount
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


@dataclass(frozen=True)
class SpeciesFacts:
    """What a provider told us about a species, enough to add it to the catalogue."""

    scientific_name: str
    authorship: str | None = None
    family: str | None = None
    genus: str | None = None
    common_names: tuple[str, ...] = ()


def species_named(names: Iterable[str], *, also_load: Sequence[Any] = ()) -> dict[str, Species]:
    """Return the catalogued species among these scientific names, by normalised name: one query.

    Only their names and the also_load columns are loaded (what the caller will read; anything else
    loads when read).
    """
    wanted = {n for n in (normalise_scientific_name(name) for name in names) if n}
    if not wanted:
        return {}
    found = db.session.scalars(select(Species).where(Species.scientific_name.in_(wanted))
                               .options(load_only(Species.scientific_name, *also_load)))
    return {species.scientific_name: species for species in found}


def species_for(facts: Iterable[SpeciesFacts], lang: str = "en", *, also_load: Sequence[Any] = (),
                loaded: Mapping[str, Species] | None = None) -> list[Species | None]:
    """Return the species of each entry, adding the missing ones; flushed, never committed.

    One query (species_named) finds the known names, but for those in loaded: species the caller
    looked up before by normalised name, with the same also_load columns. New species go in under
    savepoints, so a lost race (another process added the same name) costs a re-read, not the
    caller's transaction.
    """
    facts = list(facts)
    names = [normalise_scientific_name(f.scientific_name) for f in facts]
    known = dict(loaded or {})
    known.update(species_named({n for n in names if n and n not in known}, also_load=also_load))
    for fact, name in zip(facts, names, strict=True):
        if not name or name in known:
            continue
        species = Species(scientific_name=name, slug=slugify_name(name), authorship=fact.authorship,
                          family=fact.family, genus=fact.genus or name.split(" ")[0])
        species.common_names = [SpeciesCommonName(name=n, lang=lang, position=i)
                                for i, n in enumerate(dict.fromkeys(fact.common_names))]
        try:
            with db.session.begin_nested():
                db.session.add(species)
        except IntegrityError:
            raced = find_species(name)
            if raced is not None:
                known[name] = raced
            continue
        known[name] = species
        log.info("species created", extra={"event": "species_created", "species": name})
    return [known.get(name) for name in names]


def add_identification_counts(counts: Mapping[tuple[uuid.UUID, date], int]) -> None:
    """Add identifications to species totals and daily counts, keyed by (species id, day); caller commits.

    The daily rows are upserted in one statement, so concurrent counters never lose an increment.
    The caller commits, then calls fragments.invalidate("species") (species pages show the counts).
    """
    totals: dict[uuid.UUID, int] = {}
    for (species_id, _), n in counts.items():
        totals[species_id] = totals.get(species_id, 0) + n
    for species_id, n in sorted(totals.items()):  # a fixed order: concurrent batches cannot deadlock
        db.session.execute(update(Species).where(Species.id == species_id)
                           .values(identification_count=Species.identification_count + n))
    if not counts:
        return
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(SpeciesDailyCount).values(
        [{"species_id": species_id, "day": day, "count": n}
         for (species_id, day), n in sorted(counts.items())])
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["species_id", "day"],
        set_={"count": SpeciesDailyCount.count + statement.excluded["count"]}))


CATALOGUE_PATH = Path(__file__).with_name("starter_catalogue.json")
BROWSE_PAGE_SIZE = 30
SORTS = ("name", "popular")
PLACES = ("indoor", "outdoor")
_CARE_FIELDS = ("authorship", "family", "genus", "rank", "description", "light", "watering", "soil",
                "humidity", "temperature_min_c", "temperature_max_c", "hardiness_zones", "toxic_to_pets",
                "toxic_to_people", "edible_parts", "propagation", "indoor", "outdoor", "difficulty",
                "care_notes", "synonyms")


def load_starter_catalogue(path: Path = CATALOGUE_PATH) -> str:
    """Add the hand-written starter species that are missing; existing rows are kept as they are."""
    entries = json.loads(path.read_text(encoding="utf-8"))["species"]
    existing = set(db.session.scalars(select(Species.scientific_name)))
    added = 0
    for entry in entries:
        name = normalise_scientific_name(entry["scientific_name"])
        if name in existing:
            continue
        species = Species(scientific_name=name, slug=slugify_name(name), verified=True,
                          **{key: entry[key] for key in _CARE_FIELDS if key in entry})
        species.common_names = [SpeciesCommonName(name=n["name"], lang=n.get("lang", "en"), position=i)
                                for i, n in enumerate(entry.get("common_names", []))]
        db.session.add(species)
        existing.add(name)
        added += 1
    db.session.commit()
    return f"{added} starter species added ({len(entries) - added} already there)"


@dataclass
class BrowseFilters:
    """What the browse page was asked for, after unknown values were dropped."""

    letter: str | None = None
    family: str | None = None
    pet_safe: bool = False
    light: str | None = None
    watering: str | None = None
    place: str | None = None
    sort: str = "name"
    page: int = 1
    ignored: list[str] = field(default_factory=list)

    def args(self, **over) -> dict:
        """Return the query-string arguments that reproduce these filters (for links)."""
        values = {"letter": self.letter, "family": self.family, "pet_safe": "1" if self.pet_safe else None,
                  "light": self.light, "watering": self.watering, "place": self.place,
                  "sort": self.sort if self.sort != "name" else None, "page": self.page if self.page > 1 else None}
        values.update(over)
        return {k: v for k, v in values.items() if v not in (None, "", False)}


def parse_browse_filters(args: Mapping[str, str], families: Iterable[str]) -> BrowseFilters:
    """Read browse filters from query arguments, ignoring (and naming) values we don't know."""
    filters = BrowseFilters()
    choices = {"light": LIGHT_LEVELS, "watering": WATERING_LEVELS, "place": PLACES, "sort": SORTS}
    for key, allowed in choices.items():
        value = (args.get(key) or "").strip()
        if value in allowed:
            setattr(filters, key, value)
        elif value:
            filters.ignored.append(key)
    letter = (args.get("letter") or "").strip().upper()
    if len(letter) == 1 and "A" <= letter <= "Z":
        filters.letter = letter
    elif letter:
        filters.ignored.append("letter")
    family = (args.get("family") or "").strip()
    if family in set(families):
        filters.family = family
    elif family:
        filters.ignored.append("family")
    pet_safe = (args.get("pet_safe") or "").strip()
    if pet_safe in ("1", "y", "on", "true"):
        filters.pet_safe = True
    elif pet_safe:
        filters.ignored.append("pet_safe")
    page = (args.get("page") or "").strip()
    if page.isdigit() and 0 < int(page) < 10_000:
        filters.page = int(page)
    elif page:
        filters.ignored.append("page")
    return filters


def list_families() -> list[tuple[str, int]]:
    """Return every family with how many species it holds, A to Z."""
    rows = db.session.execute(select(Species.family, func.count()).where(Species.family.is_not(None))
                              .group_by(Species.family).order_by(Species.family))
    return [(family, count) for family, count in rows]


def browse_species(filters: BrowseFilters) -> tuple[list[Species], int]:
    """Return one page of species matching the filters, and how many match in all."""
    query = select(Species)
    if filters.letter:
        query = query.where(Species.scientific_name.like(f"{filters.letter}%"))
    if filters.family:
        query = query.where(Species.family == filters.family)
    if filters.pet_safe:
        query = query.where(Species.toxic_to_pets.is_(False))
    if filters.light:
        query = query.where(Species.light == filters.light)
    if filters.watering:
        query = query.where(Species.watering == filters.watering)
    if filters.place == "indoor":
        query = query.where(Species.indoor.is_(True))
    elif filters.place == "outdoor":
        query = query.where(Species.outdoor.is_(True))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    order = ((Species.identification_count.desc(), Species.scientific_name) if filters.sort == "popular"
             else (Species.scientific_name,))
    page = db.session.scalars(query.options(selectinload(Species.common_names)).order_by(*order)
                              .limit(BROWSE_PAGE_SIZE).offset((filters.page - 1) * BROWSE_PAGE_SIZE)).all()
    return list(page), total


def get_species_by_slug(slug: str) -> Species | None:
    """Return the species with this URL slug, or None."""
    return db.session.scalar(select(Species).where(Species.slug == slug)
                             .options(selectinload(Species.common_names), selectinload(Species.images)))


def similar_species(species: Species, limit: int = 6) -> list[Species]:
    """Return species of the same genus, then of the same family, most identified first."""
    found: list[Species] = []
    for column, value in ((Species.genus, species.genus), (Species.family, species.family)):
        if not value or len(found) >= limit:
            continue
        seen = [species.id, *(s.id for s in found)]
        found += db.session.scalars(
            select(Species).where(column == value, Species.id.not_in(seen))
            .options(selectinload(Species.common_names))
            .order_by(Species.identification_count.desc(), Species.scientific_name)
            .limit(limit - len(found))).all()
    return found


def identifications_this_week(species_id: uuid.UUID) -> int:
    """Return how many times a species was identified in the last seven UTC days."""
    since = utcnow().date() - timedelta(days=6)
    return db.session.scalar(select(func.coalesce(func.sum(SpeciesDailyCount.count), 0)).where(
        SpeciesDailyCount.species_id == species_id, SpeciesDailyCount.day >= since)) or 0


def popular_this_week(limit: int = 20) -> list[tuple[Species, int]]:
    """Return the most identified species of the last seven UTC days with their counts."""
    since = utcnow().date() - timedelta(days=6)
    week = func.sum(SpeciesDailyCount.count).label("week")
    rows = db.session.execute(
        select(Species, week).join(SpeciesDailyCount, SpeciesDailyCount.species_id == Species.id)
        .where(SpeciesDailyCount.day >= since).group_by(Species.id)
        .order_by(week.desc(), Species.scientific_name).limit(limit)).all()
    return [(species, int(count)) for species, count in rows]


def popular_all_time(limit: int = 20) -> list[Species]:
    """Return the most identified species ever (those identified at least once)."""
    return list(db.session.scalars(
        select(Species).where(Species.identification_count > 0)
        .options(selectinload(Species.common_names))
        .order_by(Species.identification_count.desc(), Species.scientific_name).limit(limit)))


def home_popular(limit: int = 6) -> dict:
    """Return what the home page's "Popular species" section shows."""
    species = list(db.session.scalars(
        select(Species).options(selectinload(Species.common_names))
        .order_by(Species.identification_count.desc(), Species.scientific_name).limit(limit)))
    return {"species": species}


def resolve_discussable(species_id: uuid.UUID) -> tuple[str, str] | None:
    """Return (title, url) of a species for the forum, or None when it does not exist."""
    species = get_species(species_id)
    if species is None:
        return None
    return species.scientific_name, url_for("species.detail", slug=species.slug)


def search_species(q: str, limit: int, offset: int) -> tuple[list[SearchHit], int]:
    """Find species by scientific, common or family name and by description; best first."""
    rows, total = search_index.search(db.session, q, limit, offset)
    hits = []
    for row in rows:
        text = " · ".join(part for part in (row.names, row.family, row.description) if part)
        hits.append(SearchHit(kind="species", title=row.scientific_name,
                              url=url_for("species.detail", slug=row.slug),
                              snippet=highlight(text, q), score=float(row.score)))
    return hits, total


from app.species.enrichment import enrich_species, queue_enrichment  # noqa: E402,F401  (one facade)
