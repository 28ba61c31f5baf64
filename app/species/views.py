"""Species pages: browse with filters, a species' care card, and what is popular."""
from flask import Blueprint, Flask, abort, render_template, request

from app.core import messages
from app.core.registry import (register_bench_seeder, register_discussable, register_home_section,
                               register_nav_link, register_seeder)
from app.htmx import wants_fragment
from app.search.base import SearchSource, register_search_source
from app.species import bench, search_index, service
from app.species.models import LIGHT_LEVELS, WATERING_LEVELS

bp = Blueprint("species", __name__, url_prefix="/species")

LIGHT_LABELS = {"full_sun": "Full sun", "partial_sun": "Partial sun", "bright_indirect": "Bright, indirect",
                "medium": "Medium", "low": "Low light"}
WATERING_LABELS = {"low": "Low", "moderate": "Moderate", "high": "High"}


@bp.get("")
def browse():
    families = service.list_families()
    filters = service.parse_browse_filters(request.args, (name for name, _ in families))
    species, total = service.browse_species(filters)
    notice = (messages.FILTER_IGNORED.format(names=", ".join(filters.ignored)) if filters.ignored else None)
    context = dict(species=species, total=total, filters=filters, families=families, notice=notice,
                   page_size=service.BROWSE_PAGE_SIZE, light_levels=LIGHT_LEVELS, watering_levels=WATERING_LEVELS,
                   letters=[chr(c) for c in range(ord("A"), ord("Z") + 1)])
    template = "species/_results.html" if wants_fragment() else "species/browse.html"
    return render_template(template, **context)


@bp.get("/popular")
def popular():
    return render_template("species/popular.html", this_week=service.popular_this_week(),
                           all_time=service.popular_all_time())


@bp.get("/<slug>")
def detail(slug):
    species = service.get_species_by_slug(slug)
    if species is None:
        abort(404)
    return render_template("species/detail.html", species=species,
                           similar=service.similar_species(species),
                           this_week=service.identifications_this_week(species.id))


def register(app: Flask) -> None:
    """Offer species to the nav, the home page, search, the forum, `flask seed` and the benchmarks."""
    search_index.listen()
    app.jinja_env.filters.setdefault("light_label", lambda v: LIGHT_LABELS.get(v, v or "—"))
    app.jinja_env.filters.setdefault("watering_label", lambda v: WATERING_LABELS.get(v, v or "—"))
    register_nav_link(app, "species.browse", "Species")
    register_home_section(app, "species/_home_popular.html", service.home_popular)
    register_search_source(app, SearchSource(kind="species", label="Species", search=service.search_species,
                                             order=10))
    register_discussable(app, "species", service.resolve_discussable)
    register_seeder(app, "species", service.load_starter_catalogue)
    register_bench_seeder(app, "species", bench.seed_bench_species)
