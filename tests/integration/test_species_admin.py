"""Species admin: only admins, search, lock toggles, inline names and the re-enrich action."""
import pytest

from app.core import messages
from app.extensions import db
from app.species.models import Species
from tests.conftest import csrf_token
from tests.factories import make_species


@pytest.fixture
def admin_client(client, users, auth):
    auth.login("admin@example.com")
    return client


def test_species_admin_refuses_members(client, users, auth):
    auth.login("alice@example.com")
    assert client.get("/admin/admin_species/").status_code == 403


def test_species_admin_lists_and_searches(admin_client):
    make_species("Ficus lyrata", family="Moraceae")
    make_species("Monstera deliciosa", family="Araceae")
    html = admin_client.get("/admin/admin_species/?search=lyrata").text
    assert "Ficus lyrata" in html and "Monstera deliciosa" not in html


def test_species_admin_edit_sets_locks_and_common_names(admin_client):
    species = make_species("Ficus lyrata", common_names=["fiddle-leaf fig"])
    url = f"/admin/admin_species/edit/?id={species.id}"
    page = admin_client.get(url)
    assert page.status_code == 200
    name_id = species.common_names[0].id
    data = {"csrf_token": csrf_token(page.text), "scientific_name": "Ficus lyrata", "slug": "ficus-lyrata",
            "rank": "species", "family": "Moraceae", "locked": ["family", "care_text"],
            "synonyms": "[]", "edible_parts": "[]", "propagation": "[]",
            "common_names-0-id": str(name_id), "common_names-0-name": "fiddle-leaf fig",
            "common_names-0-lang": "en", "common_names-0-position": "0",
            "common_names-1-name": "Geigenfeige", "common_names-1-lang": "de", "common_names-1-position": "1"}
    response = admin_client.post(url, data=data)
    assert response.status_code in (302, 303), response.text
    db.session.expire_all()
    species = db.session.get(Species, species.id)
    assert species.locked_fields == ["family", "care_text"]
    assert species.family == "Moraceae"
    assert sorted(n.name for n in species.common_names) == ["Geigenfeige", "fiddle-leaf fig"]


def test_species_admin_reenrich_action_queues_jobs(admin_client, app, monkeypatch):
    species = make_species("Ficus lyrata")
    queued = []
    monkeypatch.setattr("app.species.service.queue_enrichment",
                        lambda species_id, refresh=False: queued.append((species_id, refresh)))
    page = admin_client.get("/admin/admin_species/")
    response = admin_client.post("/admin/admin_species/action/", data={
        "csrf_token": csrf_token(page.text), "action": "reenrich", "rowid": str(species.id)},
        follow_redirects=True)
    assert response.status_code == 200
    assert queued == [(species.id, True)]
    assert messages.SPECIES_ENRICH_QUEUED.format(count=1) in response.text
