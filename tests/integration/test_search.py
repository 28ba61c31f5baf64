"""Site search: species ranking, the index kept current, bad queries, pages and fragments."""
import pytest

from app.core import messages
from app.extensions import db
from app.search import service as search
from app.search.base import SearchHit, SearchSource
from app.species import service as species_service
from tests.factories import is_postgres, make_species

# Hits carry URLs, which need a request to build.
pytestmark = pytest.mark.usefixtures("request_context")


@pytest.fixture
def plants(app_ctx):
    return {
        "exact": make_species("Ficus lyrata", family="Moraceae", common_names=["fiddle-leaf fig"],
                              description="A fig tree with violin-shaped leaves."),
        "body": make_species("Ficus benjamina", family="Moraceae", common_names=["weeping fig"],
                             description="Often confused with Ficus lyrata in shops, which it is not."),
        "common": make_species("Dracaena trifasciata", family="Asparagaceae",
                               common_names=["snake plant", ("Bogenhanf", "de")],
                               description="Stiff upright leaves."),
        "mention": make_species("Zamioculcas zamiifolia", family="Araceae", common_names=["ZZ plant"],
                                description="Tougher even than a snake plant in deep shade."),
        "monstera": make_species("Monstera deliciosa", family="Araceae",
                                 common_names=["Swiss cheese plant", ("Costilla de Adán", "es")]),
        "philo": make_species("Philodendron hederaceum", family="Araceae",
                              common_names=["heartleaf philodendron"]),
    }


def _titles(q: str, **kw) -> list[str]:
    results = search.search(q, **kw)
    return [hit.title for group in results.groups for hit in group.hits]


def test_exact_scientific_name_ranks_first(plants):
    assert _titles("Ficus lyrata")[0] == "Ficus lyrata"


def test_exact_scientific_name_ranks_first_whatever_the_case(plants):
    assert _titles("ficus LYRATA")[0] == "Ficus lyrata"


def test_common_name_match_outranks_body_mention(plants):
    titles = _titles("snake plant")
    assert titles.index("Dracaena trifasciata") < titles.index("Zamioculcas zamiifolia")


def test_common_name_in_another_language_matches(plants):
    assert _titles("Bogenhanf") == ["Dracaena trifasciata"]


def test_accents_are_optional(plants):
    assert _titles("costilla de adan") == ["Monstera deliciosa"]


def test_prefix_of_a_latin_name_finds_the_species(plants):
    assert "Philodendron hederaceum" in _titles("philo")


def test_index_follows_a_renamed_common_name(plants):
    plants["common"].common_names[0].name = "mother-in-law's tongue"
    db.session.commit()
    assert _titles("tongue") == ["Dracaena trifasciata"]
    assert "Dracaena trifasciata" not in _titles("snake")


def test_index_forgets_a_deleted_species(plants):
    db.session.delete(plants["philo"])
    db.session.commit()
    assert _titles("philodendron") == []


def test_fts5_table_holds_the_species_on_sqlite(plants):
    if is_postgres():
        pytest.skip("FTS5 is the SQLite index")
    from sqlalchemy import text
    rows = db.session.execute(text("SELECT scientific_name FROM species_fts WHERE species_fts MATCH 'scientific_name:lyrata'"))
    assert [r[0] for r in rows] == ["Ficus lyrata"]


@pytest.mark.parametrize("q, expected", [("monstera delicosa", "Monstera deliciosa"),
                                         ("philodendron hederacium", "Philodendron hederaceum"),
                                         ("fikus lyrata", "Ficus lyrata")])
def test_typo_still_finds_the_species_on_postgres(plants, q, expected):
    if not is_postgres():
        pytest.skip("typo tolerance uses pg_trgm (PostgreSQL)")
    assert _titles(q)[0] == expected


def test_tsvector_column_kept_current_on_postgres(plants):
    if not is_postgres():
        pytest.skip("the tsvector column exists on PostgreSQL")
    from sqlalchemy import text
    vector = db.session.scalar(text("SELECT search_vector::text FROM species WHERE id = :id"),
                               {"id": plants["common"].id})
    assert "'bogenhanf':" in vector and "'dracaena':1A" in vector


def test_snippet_marks_matches_and_escapes_text(app_ctx):
    make_species("Ficus lyrata", description="Leaves <b>shine</b> & the fig grows tall.")
    hit = search.search("fig").groups[0].hits[0]
    assert "<mark>fig</mark>" in hit.snippet
    assert "&lt;b&gt;shine&lt;/b&gt; &amp;" in hit.snippet
    assert "<b>" not in hit.snippet


@pytest.mark.parametrize("q", ["'", '"', "&", "|", "!", ":*", "\\", "a' OR 1=1 --", "fig & | ! :* \\",
                               '"unclosed', "NEAR(", "AND", "*", "-", "()", "🌿 plant", "Ficus:*A"])
def test_operators_and_quotes_never_fail(client, plants, q):
    response = client.get("/search", query_string={"q": q})
    assert response.status_code == 200
    assert messages.SERVER_ERROR.replace("'", "&#39;") not in response.text


def test_empty_query_asks_for_words(client, plants):
    response = client.get("/search?q=")
    assert response.status_code == 200
    assert messages.SEARCH_EMPTY in response.text


def test_long_query_is_trimmed_with_a_notice(client, plants):
    response = client.get("/search", query_string={"q": "fig " * 100})
    assert response.status_code == 200
    assert messages.SEARCH_TRIMMED.format(limit=200) in response.text
    assert search.search("fig " * 100).query == ("fig " * 50).strip()


def test_no_results_says_so(client, plants):
    response = client.get("/search?q=zzqqxx")
    assert "Nothing matched" in response.text


def test_search_page_groups_results_under_source_labels(client, app, plants):
    response = client.get("/search?q=fig")
    assert response.status_code == 200
    assert "Species <small" in response.text
    assert "Ficus lyrata" in response.text


def test_search_fragment_for_htmx_request(client, plants):
    response = client.get("/search?q=fig", headers={"HX-Request": "true"})
    assert "<html" not in response.text
    assert 'id="search-results"' in response.text


def test_search_paginates(client, app_ctx):
    for i in range(12):
        make_species(f"Ficus species{chr(97 + i)}", common_names=["fig"])
    first, second = search.search("fig"), search.search("fig", page=2)
    assert len(first.groups[0].hits) == 10 and first.has_next
    assert len(second.groups[0].hits) == 2 and not second.has_next
    assert "page=2" in client.get("/search?q=fig").text


def test_other_registered_sources_are_grouped_after_species(app, client, plants, monkeypatch):
    source = SearchSource(kind="post", label="Blog posts", order=50,
                          search=lambda q, limit, offset: ([SearchHit("post", "All about figs", "/blog/figs")], 1))
    monkeypatch.setitem(app.extensions, "search_sources", [*app.extensions["search_sources"], source])
    html = client.get("/search?q=fig").text
    assert html.index("Species <small") < html.index("Blog posts <small")
    assert [g.source.kind for g in search.search("fig", kinds=["post"]).groups] == ["post"]


def test_unknown_kind_is_ignored(plants):
    assert [g.source.kind for g in search.search("fig", kinds=["nope"]).groups] == ["species"]


def test_suggest_returns_top_hits_fragment(client, plants):
    response = client.get("/search/suggest?q=fi")
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Ficus lyrata" in response.text
    assert response.text.count('class="suggestion-kind"') <= search.SUGGEST_LIMIT


def test_suggest_under_two_characters_is_empty(client, plants):
    response = client.get("/search/suggest?q=f")
    assert response.status_code == 200
    assert response.text.strip() == ""


def test_species_source_reports_total(plants):
    hits, total = species_service.search_species("fig", 1, 0)
    assert len(hits) == 1 and total == 2
