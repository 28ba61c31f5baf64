"""Site search under load: the short Redis cache of answers, its invalidation, and the rate limits."""
import re
import uuid

import pytest
from markupsafe import Markup, escape
from sqlalchemy import insert, text

from app.core import messages
from app.extensions import db
from app.search import service as search
from app.search.base import SearchHit, SearchSource
from app.species import search_index
from app.species.models import Species
from tests.factories import make_species

# Hits carry URLs, which need a request to build.
pytestmark = pytest.mark.usefixtures("request_context")


@pytest.fixture
def counting_source(app, monkeypatch):
    calls = []

    def find(q, limit, offset):
        calls.append((q, limit, offset))
        return [SearchHit("note", "Notes on figs", "/notes/figs", "about <mark>figs</mark>")], 1

    source = SearchSource(kind="note", label="Notes", search=find, order=90)
    monkeypatch.setitem(app.extensions, "search_sources", [*app.extensions["search_sources"], source])
    return calls


def _search_keys(app) -> list[bytes]:
    return [k for k in app.extensions["redis"].scan_iter("verdant:search:v*")]


def _titles(q: str) -> list[str]:
    return [hit.title for group in search.search(q).groups for hit in group.hits]


def test_repeated_search_is_answered_from_cache(app, app_ctx, counting_source):
    search.search("figs")
    search.search("figs")
    assert len(counting_source) == 1
    assert any(b":note:" in key for key in _search_keys(app))


def test_cache_key_ignores_case_of_the_query(app_ctx, counting_source):
    search.search("Figs")
    search.search("figs")
    assert len(counting_source) == 1


def test_cached_snippet_stays_safe_html(app_ctx, counting_source):
    search.search("figs")
    hit = search.search("figs").groups[-1].hits[0]
    assert isinstance(hit.snippet, Markup) and str(hit.snippet) == "about <mark>figs</mark>"


def test_cache_off_asks_the_source_every_time(app, app_ctx, counting_source, monkeypatch):
    monkeypatch.setitem(app.config, "SEARCH_CACHE_TTL", 0)
    search.search("figs")
    search.search("figs")
    assert len(counting_source) == 2
    assert _search_keys(app) == []


def test_cached_answer_expires_after_ttl(app, app_ctx, counting_source):
    search.search("figs")
    ttls = [app.extensions["redis"].ttl(key) for key in _search_keys(app)]
    assert ttls and all(0 < ttl <= search.CACHE_TTL for ttl in ttls)


def test_new_species_is_found_after_a_cached_miss(app_ctx):
    assert _titles("carica") == []
    make_species("Ficus carica", common_names=["common fig"])
    assert _titles("carica") == ["Ficus carica"]


def test_renamed_species_is_found_after_a_cached_search(app_ctx):
    species = make_species("Ficus carica", common_names=["common fig"])
    assert _titles("carica") == ["Ficus carica"]
    species.description = "Sweet purple fruit."
    db.session.commit()
    assert search.search("purple").groups[0].hits[0].title == "Ficus carica"


def test_bulk_insert_makes_cached_answers_stale(app_ctx):
    assert _titles("carica") == []
    sid = uuid.uuid4()
    db.session.execute(insert(Species), [dict(id=sid, scientific_name="Ficus carica", slug="ficus-carica",
                                              synonyms=[], edible_parts=[], propagation=[], locked_fields=[],
                                              rank="species", identification_count=0, verified=False,
                                              indoor=False, outdoor=True)])
    search_index.reindex(db.session, [sid])
    db.session.commit()
    assert _titles("carica") == ["Ficus carica"]


def test_rolled_back_write_keeps_cache(app, app_ctx, counting_source):
    search.search("figs")
    make_species("Ficus carica")  # committed: one bump
    search.search("figs")
    db.session.add(Species(scientific_name="Ficus rubiginosa", slug="ficus-rubiginosa"))
    db.session.flush()
    db.session.rollback()
    search.search("figs")
    assert len(counting_source) == 2


def test_search_survives_redis_down(app, app_ctx, counting_source, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def broken(*args, **kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(app.extensions["redis"], "get", broken)
    assert search.search("figs").groups[-1].hits[0].title == "Notes on figs"
    assert len(counting_source) == 1


def test_names_vector_kept_current_on_postgres(app_ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the names-only tsvector exists on PostgreSQL")
    species = make_species("Dracaena trifasciata", family="Asparagaceae",
                           common_names=["snake plant"], description="Stiff upright leaves.")
    vector = db.session.scalar(text("SELECT search_names_vector::text FROM species WHERE id = :id"),
                               {"id": species.id})
    assert "'snake':" in vector and "'dracaena':1A" in vector and "'stiff'" not in vector


def test_name_matches_fill_the_page_before_text_matches(app_ctx):
    for n in range(12):
        make_species(f"Ficus test{chr(97 + n)}", common_names=[f"silver fig {n}"])
    make_species("Dracaena marginata", description="A silver sheen on every leaf.")
    titles = [hit.title for hit in search.search("silver").groups[0].hits]
    assert len(titles) == search.PAGE_SIZE and "Dracaena marginata" not in titles


def _limited(client, url: str, limit: int) -> list:
    return [client.get(url) for _ in range(limit + 1)]


def test_search_rate_limit_is_429_with_standard_message(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SEARCH_RATE_LIMIT", "3 per minute")
    responses = _limited(client, "/search?q=fig", 3)
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    pattern = re.escape(str(escape(messages.RATE_LIMITED))).replace(r"\{wait\}", r"\d+ seconds?")
    assert re.search(pattern, responses[-1].text) and responses[-1].headers["Retry-After"]


def test_search_rate_limit_is_per_ip(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SEARCH_RATE_LIMIT", "1 per minute")
    assert client.get("/search?q=fig").status_code == 200
    other = client.get("/search?q=fig", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200
    assert client.get("/search?q=fig").status_code == 429


def test_search_rate_limit_answers_htmx_with_fragment(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SEARCH_RATE_LIMIT", "1 per minute")
    client.get("/search?q=fig", headers={"HX-Request": "true"})
    response = client.get("/search?q=fig", headers={"HX-Request": "true"})
    assert response.status_code == 429 and "<html" not in response.text


def test_suggest_has_its_own_rate_limit(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SEARCH_SUGGEST_RATE_LIMIT", "2 per minute")
    responses = _limited(client, "/search/suggest?q=fi", 2)
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert client.get("/search?q=fig").status_code == 200
