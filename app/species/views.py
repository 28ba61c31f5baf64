"""Species pages: browse with filters, a species' care card, and what is popular."""
import json
from urllib.parse import urlencode

from flask import Blueprint, Flask, abort, render_template, request
from markupsafe import Markup
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core import fragments, messages
from app.core.fragments import cached_fragment
from app.core.registry import (register_bench_seeder, register_discussable, register_home_section,
                               register_nav_link, register_seeder)
from app.htmx import wants_fragment
from app.search.base import SearchSource, register_search_index, register_search_source
from app.species import bench, search_index, service
from app.species.care import care_guide
from app.species.models import LIGHT_LEVELS, WATERING_LEVELS, Species, SpeciesCommonName, SpeciesImage

bp = Blueprint("species", __name__, url_prefix="/species")

LIGHT_LABELS = {"full_sun": "Full sun", "partial_sun": "Partial sun", "bright_indirect": "Bright, indirect",
                "medium": "Medium", "low": "Low light"}
WATERING_LABELS = {"low": "Low", "moderate": "Moderate", "high": "High"}


# The species pages hold nothing personal, so their content regions are cached for every
# reader and made stale by any change to a species (see `register`).
BROWSE_ARGS = ("letter", "family", "light", "watering", "place", "pet_safe", "sort", "page")


@bp.get("")
def browse():
    template = "species/_results.html" if wants_fragment() else "species/_browse.html"
    body = _cached(f"browse:{template}:{_browse_key()}", lambda: render_template(template, **_browse_context()))
    return body if template == "species/_results.html" else render_template("species/browse.html", body=body)


def _browse_key() -> str:
    known = sorted((k, v) for k in BROWSE_ARGS for v in request.args.getlist(k))
    unknown = sorted(k for k in request.args if k not in BROWSE_ARGS)
    return urlencode(known + [("ignored", ",".join(unknown))])[:500]


def _browse_context() -> dict:
    families = service.list_families()
    filters = service.parse_browse_filters(request.args, (name for name, _ in families))
    species, total = service.browse_species(filters)
    notice = (messages.FILTER_IGNORED.format(names=", ".join(filters.ignored)) if filters.ignored else None)
    return dict(species=species, total=total, filters=filters, families=families, notice=notice,
                page_size=service.BROWSE_PAGE_SIZE, light_levels=LIGHT_LEVELS, watering_levels=WATERING_LEVELS,
                letters=[chr(c) for c in range(ord("A"), ord("Z") + 1)])


@bp.get("/popular")
def popular():
    body = _cached("popular", lambda: render_template(
        "species/_popular.html", this_week=service.popular_this_week(), all_time=service.popular_all_time()))
    return render_template("species/popular.html", body=body)


@bp.get("/<slug>")
def detail(slug):
    def render() -> str:
        species = service.get_species_by_slug(slug)
        if species is None:
            return ""
        name = species.common_name
        meta = {"title": f"{name or species.scientific_name} ({species.scientific_name})",
                "description": f"How to grow {species.scientific_name}{f' ({name})' if name else ''}: "
                               "light, watering, soil and pet safety."}
        html = render_template("species/_detail.html", species=species, similar=service.similar_species(species),
                               this_week=service.identifications_this_week(species.id))
        return json.dumps({"meta": meta, "html": html})

    cached = _cached(f"detail:{slug[:200]}", render)
    if not cached:
        abort(404)
    page = json.loads(cached)
    return render_template("species/detail.html", meta=page["meta"], body=Markup(page["html"]))


def _cached(name: str, render) -> Markup:
    return Markup(cached_fragment("species", name, render))


def _invalidate_after_commit(session) -> None:
    if session.info.pop("species_changed", False):
        fragments.invalidate("species")


def _note_species_change(session, flush_context, instances) -> None:
    if any(isinstance(obj, (Species, SpeciesCommonName, SpeciesImage))
           for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info["species_changed"] = True


def register(app: Flask) -> None:
    """Offer species to the nav, the home page, search, the forum, `flask seed` and the benchmarks."""
    search_index.listen()
    if not event.contains(Session, "before_flush", _note_species_change):
        event.listen(Session, "before_flush", _note_species_change)
        event.listen(Session, "after_commit", _invalidate_after_commit)
    app.jinja_env.filters.setdefault("light_label", lambda v: LIGHT_LABELS.get(v, v or "—"))
    app.jinja_env.filters.setdefault("watering_label", lambda v: WATERING_LABELS.get(v, v or "—"))
    app.jinja_env.filters.setdefault("care_guide", care_guide)
    register_nav_link(app, "species.browse", "Species")
    register_home_section(app, "species/_home_popular.html", service.home_popular)
    register_search_source(app, SearchSource(kind="species", label="Species", search=service.search_species,
                                             order=10, models=(Species, SpeciesCommonName)))
    register_search_index(app, search_index.INDEX_NAMES)
    register_discussable(app, "species", service.resolve_discussable)
    register_seeder(app, "species", service.load_starter_catalogue)
    register_bench_seeder(app, "species", bench.seed_bench_species)
