"""Trefle v1 client against the local fake over real HTTP."""
import pytest
import requests

from app.providers import stats
from app.providers.base import ProviderError
from app.providers.fakes import KEYS
from app.providers.trefle import TrefleClient, pick_match


CLIENT_CLASS = TrefleClient


def test_species_by_name_reads_care_from_real_paths(client):
    data = client.species_by_name("Monstera deliciosa")
    assert data["scientific_name"] == "Monstera deliciosa"
    assert data["family"] == "Araceae"
    assert data["common_name"] == "Swiss cheese plant"
    assert data["light"] == 6
    assert data["atmospheric_humidity"] == 7
    assert data["minimum_temperature_c"] == 10
    assert data["maximum_temperature_c"] == 32
    assert (data["ph_minimum"], data["ph_maximum"]) == (5.5, 7.0)
    assert data["growth_rate"] == "Moderate"
    assert data["average_height_cm"] == 300
    assert data["edible_part"] == ["fruit"]
    assert data["synonyms"] == ["Philodendron pertusum"]
    assert data["images"]["leaf"]


def test_species_by_name_keeps_missing_care_as_none(client):
    data = client.species_by_name("Chlorophytum comosum")
    assert data["scientific_name"] == "Chlorophytum comosum"
    assert data["light"] is None
    assert data["minimum_temperature_c"] is None
    assert data["growth_rate"] is None


def test_species_by_name_searches_then_fetches_by_id(client, fake):
    data = client.species_by_name("Monstera deliciosa")
    search, detail = fake.requests("trefle")
    assert search.path == "/trefle/api/v1/species/search"
    assert search.query["q"] == ["Monstera deliciosa"]
    assert search.query["token"] == [KEYS["trefle"]]
    assert detail.path == f"/trefle/api/v1/species/{data['trefle_id']}"
    assert detail.query["token"] == [KEYS["trefle"]]


def test_species_by_name_picks_the_exact_match_not_the_first_hit(client):
    assert client.species_by_name("Monstera adansonii")["scientific_name"] == "Monstera adansonii"


def test_pick_match_falls_back_to_synonyms():
    hits = [{"id": 1, "scientific_name": "Dracaena trifasciata", "synonyms": ["Sansevieria trifasciata"]}]
    assert pick_match(hits, "sansevieria  trifasciata")["id"] == 1
    assert pick_match(hits, "Dracaena angolensis") is None


def test_species_by_name_returns_none_when_unknown(client, fake):
    assert client.species_by_name("Welwitschia mirabilis") is None
    assert fake.hits("trefle") == 1


def test_species_by_name_not_found_mode_returns_none(client, fake):
    fake.set_mode("trefle", "not_found")
    assert client.species_by_name("Monstera deliciosa") is None
    assert client.breaker.state == "closed"


@pytest.mark.parametrize("mode, kind, status", [
    ("500", "server_error", 500),
    ("429", "rate_limited", 429),
    ("401", "auth", 401),
    ("bad_json", "bad_response", 200),
    ("reset", "connection", None),
])
def test_species_by_name_maps_failures(client, fake, mode, kind, status):
    fake.set_mode("trefle", mode)
    with pytest.raises(ProviderError) as error:
        client.species_by_name("Monstera deliciosa")
    assert (error.value.provider, error.value.kind, error.value.status) == ("trefle", kind, status)


def test_species_by_name_times_out_on_a_slow_provider(make_client, fake):
    client = make_client(read_timeout=0.3)
    fake.set_mode("trefle", "slow")
    with pytest.raises(ProviderError) as error:
        client.species_by_name("Monstera deliciosa")
    assert error.value.kind == "timeout"


def test_species_by_name_429_opens_breaker(client, fake):
    fake.set_mode("trefle", "429")
    with pytest.raises(ProviderError) as error:
        client.species_by_name("Monstera deliciosa")
    assert error.value.retry_after == 60
    assert client.breaker.state == "open"
    with pytest.raises(ProviderError) as error:
        client.species_by_name("Monstera deliciosa")
    assert error.value.kind == "circuit_open"
    assert fake.hits("trefle") == 1


def test_species_by_name_reads_the_plural_messages_key(make_client):
    client = make_client(TREFLE_API_KEY="wrong")
    with pytest.raises(ProviderError) as error:
        client.species_by_name("Monstera deliciosa")
    assert error.value.message == "Invalid access token"
    assert "wrong" not in str(error.value)


def test_species_by_name_records_stats(client, redis, clock):
    client.species_by_name("Monstera deliciosa")
    status = stats.provider_status(redis, "trefle", client.breaker.state, clock=clock)
    assert (status["calls_today"], status["errors_today"]) == (1, 0)


def test_fake_requires_a_token(fake):
    response = requests.get(fake.settings["TREFLE_BASE_URL"] + "/species/search", params={"q": "ficus"}, timeout=5)
    assert response.status_code == 401
    assert response.json()["messages"].startswith("An access token is required")


def test_fake_requires_q_for_search(fake):
    response = requests.get(fake.settings["TREFLE_BASE_URL"] + "/species/search",
                            params={"token": KEYS["trefle"]}, timeout=5)
    assert response.status_code == 422
    assert response.json() == {"error": True, "message": "param is missing or the value is empty: q"}
