"""Species pages: seeding, browse filters, the species page, popularity and the home section."""
import pytest
from sqlalchemy import func, select

from app.core import messages
from app.extensions import db
from app.species import service
from app.species.models import Species, SpeciesCommonName, SpeciesDailyCount
from tests.factories import count_identifications, make_species


@pytest.fixture
def catalogue(app_ctx):
    service.load_starter_catalogue()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_seed_loads_starter_catalogue_with_all_languages(catalogue):
    assert _count(Species) == 129
    langs = set(db.session.scalars(select(SpeciesCommonName.lang)))
    assert {"en", "de", "es", "nl"} <= langs


def test_seed_twice_adds_nothing_and_keeps_edits(catalogue):
    monstera = service.find_species("Monstera deliciosa")
    monstera.description = "Edited by an editor."
    db.session.commit()
    line = service.load_starter_catalogue()
    assert line.startswith("0 starter species added")
    assert _count(Species) == 129
    assert service.find_species("Monstera deliciosa").description == "Edited by an editor."


def test_seed_command_reports_species(app, catalogue):
    result = app.test_cli_runner().invoke(args=["seed"])
    assert "species: 0 starter species added (129 already there)" in result.output


def test_browse_lists_species_a_to_z(client, catalogue):
    response = client.get("/species")
    assert response.status_code == 200
    assert "<em>Acer palmatum</em>" in response.text
    assert "129 species" in response.text


@pytest.mark.parametrize("query, check", [
    ("pet_safe=1", lambda s: s.toxic_to_pets is False),
    ("light=low", lambda s: s.light == "low"),
    ("watering=high", lambda s: s.watering == "high"),
    ("place=indoor", lambda s: s.indoor),
    ("place=outdoor", lambda s: s.outdoor),
    ("family=Araceae", lambda s: s.family == "Araceae"),
    ("letter=m", lambda s: s.scientific_name.startswith("M")),
])
def test_browse_filter_keeps_only_matching_species(client, catalogue, query, check):
    response = client.get(f"/species?{query}")
    shown = [s for s in db.session.scalars(select(Species)) if f"<em>{s.scientific_name}</em>" in response.text]
    assert shown
    assert all(check(s) for s in shown)
    assert len(shown) == len([s for s in db.session.scalars(select(Species)) if check(s)][:30])


@pytest.mark.parametrize("query", ["light=blinding", "watering=daily", "place=moon", "sort=random",
                                   "family=Nopeaceae", "letter=%C3%84", "pet_safe=maybe", "page=-3"])
def test_browse_unknown_filter_ignored_with_notice(client, catalogue, query):
    response = client.get(f"/species?{query}")
    assert response.status_code == 200
    assert "ignored a filter we don&#39;t recognise" in response.text
    assert "129 species" in response.text


def test_browse_fragment_for_htmx_request(client, catalogue):
    response = client.get("/species?light=low", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'id="species-results"' in response.text
    assert "HX-Request" in response.headers["Vary"]


def test_browse_page_filter_form_pushes_url_and_works_as_get_form(client, catalogue):
    html = client.get("/species").text
    assert 'method="get" action="/species"' in html
    assert 'hx-push-url="true"' in html


def test_browse_sort_popular_puts_most_identified_first(client, catalogue):
    service.find_species("Ficus lyrata").identification_count = 99
    db.session.commit()
    html = client.get("/species?sort=popular").text
    assert html.index("<em>Ficus lyrata</em>") < html.index("<em>Acer palmatum</em>")


def test_browse_paginates_by_thirty(client, catalogue):
    html = client.get("/species?page=2").text
    assert "Page 2 of 5" in html
    assert "<em>Acer palmatum</em>" not in html


def test_species_page_shows_care_card_and_count(client, catalogue):
    species = service.find_species("Monstera deliciosa")
    count_identifications(species.id, times=2)
    response = client.get("/species/monstera-deliciosa")
    assert response.status_code == 200
    assert "Care card" in response.text
    assert "Bright, indirect" in response.text
    assert "Identified 2 times" in response.text
    assert "2 this week" in response.text
    assert "Fensterblatt" in response.text


def test_species_page_shows_the_whole_care_guide_escaped(client, catalogue):
    species = service.find_species("Monstera deliciosa")
    species.care_text = {"overview": "An easy climber.", "difficulty_level": "easy",
                         "water": {"frequency": "Every 1-2 weeks", "signs_of_overwatering": "Yellow leaves"},
                         "soil": {"ph": "6.0-7.0", "drainage": None},
                         "common_problems": ["Root rot", "<script>alert(1)</script>"],
                         "pruning": "", "light": {"requirement": ""}}
    db.session.commit()
    page = client.get("/species/monstera-deliciosa").text
    assert "Growing guide" in page and "An easy climber." in page
    assert "<dt>Difficulty</dt>" in page and "<dd>easy</dd>" in page
    assert '<span class="care-part">Frequency:</span> Every 1-2 weeks' in page
    assert '<span class="care-part">Too much water:</span> Yellow leaves' in page
    assert '<span class="care-part">pH:</span> 6.0-7.0' in page and "Drainage" not in page
    assert "<li>Root rot</li>" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    # Empty sections are left out.
    assert "<dt>Pruning</dt>" not in page and "<dt>Light</dt>" not in page.split("Growing guide")[1]


def test_species_page_unknown_slug_is_404(client, catalogue):
    response = client.get("/species/no-such-plant")
    assert response.status_code == 404
    assert messages.NOT_FOUND.replace("'", "&#39;") in response.text


def test_similar_species_same_genus_before_family(app_ctx):
    target = make_species("Ficus lyrata", family="Moraceae")
    same_family = make_species("Morus alba", family="Moraceae", identification_count=50)
    same_genus = make_species("Ficus elastica", family="Moraceae")
    make_species("Rosa canina", family="Rosaceae")
    assert service.similar_species(target) == [same_genus, same_family]


def test_popular_page_separates_week_from_all_time(client, app_ctx):
    old = make_species("Ficus lyrata", identification_count=40)
    fresh = make_species("Monstera deliciosa")
    count_identifications(fresh.id)
    html = client.get("/species/popular").text
    week, all_time = html.split("Most identified of all time")
    assert "Monstera deliciosa" in week and "Ficus lyrata" not in week
    assert all_time.index("Ficus lyrata") < all_time.index("Monstera deliciosa")
    assert _count(SpeciesDailyCount) == 1
    assert old.identification_count == 40


def test_home_shows_popular_species_section(client, catalogue):
    html = client.get("/").text
    assert "Popular species" in html
    assert "/species/acer-palmatum" in html


def test_nav_has_species_link_and_search_box(client, app_ctx):
    html = client.get("/").text
    assert 'href="/species"' in html
    assert 'hx-get="/search/suggest"' in html
    assert 'hx-sync="this:replace"' in html


def test_species_is_discussable(app, app_ctx):
    species = make_species("Ficus lyrata")
    resolve = app.extensions["discussables"]["species"]
    with app.test_request_context():
        assert resolve(species.id) == ("Ficus lyrata", "/species/ficus-lyrata")
        import uuid
        assert resolve(uuid.uuid4()) is None
