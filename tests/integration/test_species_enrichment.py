"""Enrichment against the local fake Trefle and OpenAI servers: fill, cache, respect locks."""
import pytest

from app.extensions import db
from app.providers.fakes import FakeProviders
from app.species import service
from tests.factories import make_species


@pytest.fixture(scope="module")
def fakes():
    with FakeProviders() as server:
        yield server


@pytest.fixture
def providers(app, app_ctx, fakes, monkeypatch):
    fakes.reset()
    for key, value in fakes.settings.items():
        monkeypatch.setitem(app.config, key, value)
    return fakes


def test_enrich_fills_empty_fields_and_care_text(providers):
    species = make_species("Monstera deliciosa")
    service.enrich_species(species.id)
    db.session.refresh(species)
    assert species.family == "Araceae"
    assert species.authorship == "Liebm."
    assert species.trefle_id
    assert species.care_text and "overview" in species.care_text
    assert "Swiss cheese plant" in [n.name for n in species.common_names]
    assert species.enriched_at is not None


def test_enrich_never_overwrites_locked_fields(providers):
    species = make_species("Monstera deliciosa", locked_fields=["family", "care_text"])
    service.enrich_species(species.id)
    db.session.refresh(species)
    assert species.family is None
    assert species.care_text is None
    assert species.authorship == "Liebm."


def test_enrich_keeps_values_an_editor_wrote(providers):
    species = make_species("Monstera deliciosa", family="Editor's family", authorship="Ed.")
    service.enrich_species(species.id)
    db.session.refresh(species)
    assert (species.family, species.authorship) == ("Editor's family", "Ed.")


def test_enrich_caches_provider_answers_in_redis(app, providers):
    species = make_species("Monstera deliciosa")
    service.enrich_species(species.id)
    hits = (providers.hits("trefle"), providers.hits("openai"))
    service.enrich_species(species.id)
    assert (providers.hits("trefle"), providers.hits("openai")) == hits
    redis = app.extensions["redis"]
    assert redis.exists("verdant:enrich:trefle:Monstera deliciosa")
    assert redis.exists("verdant:enrich:care:Monstera deliciosa")


def test_enrich_refresh_asks_the_providers_again(providers):
    species = make_species("Monstera deliciosa")
    service.enrich_species(species.id)
    before = providers.hits("trefle")
    service.enrich_species(species.id, refresh=True)
    assert providers.hits("trefle") > before


def test_enrich_with_trefle_down_still_writes_care_text(providers):
    providers.set_mode("trefle", "500")
    species = make_species("Monstera deliciosa")
    service.enrich_species(species.id)
    db.session.refresh(species)
    assert species.family is None
    assert species.care_text
    assert species.enriched_at is not None


def test_enrich_without_provider_keys_changes_nothing(app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "TREFLE_API_KEY", None)
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", None)
    species = make_species("Monstera deliciosa")
    service.enrich_species(species.id)
    db.session.refresh(species)
    assert species.family is None and species.care_text is None


def test_queue_enrichment_runs_on_the_slow_queue(providers):
    species = make_species("Monstera deliciosa")
    job = service.queue_enrichment(species.id)
    assert job.origin == "slow"
    db.session.expire_all()
    assert db.session.get(type(species), species.id).family == "Araceae"


def test_enrich_unknown_species_returns_none(providers):
    import uuid
    assert service.enrich_species(uuid.uuid4()) is None
