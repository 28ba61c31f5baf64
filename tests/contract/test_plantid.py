"""Plant.id v3 client against the local fake over real HTTP."""
import base64

import pytest
import requests

from app.providers import stats
from app.providers.base import PROVIDERS, ImageInput, ProviderError, build_providers
from app.providers.fakes import KEYS, PLANTID_V2_FIELDS, fake_ranking, image_for
from app.providers.plantid import DETAILS, PlantIdProvider, parse_health, parse_identification
from app.providers.plantnet import PlantNetProvider


CLIENT_CLASS = PlantIdProvider


MONSTERA = image_for("Monstera deliciosa")


def test_identify_parses_v3_suggestions(client):
    result = client.identify([ImageInput(MONSTERA)])
    expected = fake_ranking([MONSTERA], "plantid")
    assert result.provider == "plantid"
    assert [s.scientific_name for s in result.suggestions] == [p.scientific_name for p, _ in expected]
    top = result.suggestions[0]
    assert top.probability == pytest.approx(expected[0][1])
    assert top.common_names == ("Swiss cheese plant", "Split-leaf philodendron")
    assert (top.family, top.genus) == ("Araceae", "Monstera")
    assert top.synonyms == ("Philodendron pertusum",)
    assert top.images and all(url.endswith(".small.svg") for url in top.images)
    assert top.external_ids == (("plantid", expected[0][0].entity_id),)
    assert top.authorship is None
    assert result.is_plant == pytest.approx(0.9871)
    assert result.quota_remaining is None
    assert result.latency_ms > 0


def test_identify_sends_v3_body_and_query(client, fake):
    client.identify([ImageInput(MONSTERA), ImageInput(b"second photo")], latitude=52.52, longitude=13.405)
    request = fake.last_request("plantid")
    body = request.json()
    assert request.method == "POST" and request.path == "/plantid/api/v3/identification"
    assert request.headers["api-key"] == KEYS["plantid"]
    assert request.headers["content-type"] == "application/json"
    assert [base64.b64decode(image, validate=True) for image in body["images"]] == [MONSTERA, b"second photo"]
    assert body["similar_images"] is True
    assert (body["latitude"], body["longitude"]) == (52.52, 13.405)
    assert "health" not in body
    assert not set(PLANTID_V2_FIELDS) & set(body)
    assert request.query["details"] == [DETAILS]
    assert set(DETAILS.split(",")) >= {"common_names", "taxonomy", "url", "description", "image", "watering",
                                       "edible_parts", "propagation_methods", "synonyms"}
    assert request.query["language"] == ["en"]


def test_identify_leaves_out_coordinates_unless_both_given(client, fake):
    client.identify([ImageInput(MONSTERA)], latitude=52.52)
    body = fake.last_request("plantid").json()
    assert "latitude" not in body and "longitude" not in body


def test_identify_asks_for_health_only_when_requested(client, fake):
    result = client.identify([ImageInput(MONSTERA)], health=True)
    request = fake.last_request("plantid")
    assert request.json()["health"] == "all"
    assert set(request.query["details"][0].split(",")) >= {"local_name", "treatment", "classification", "cause"}
    health = result.health
    assert health is not None and not health.is_healthy
    assert (health.healthy_probability, health.threshold) == (0.2104, 0.525)
    disease = health.diseases[0]
    assert disease.name == "water excess or uneven watering" and disease.probability == 0.4718
    assert dict(disease.treatment) == {"biological": ("Let the top layer of soil dry before watering again.",),
                                       "prevention": ("Use a pot with drainage holes.",)}
    assert disease.classification == ("Abiotic", "Water-related issues")
    assert result.suggestions  # the identification comes in the same answer
    assert client.identify([ImageInput(MONSTERA)]).health is None


def test_parse_health_reads_the_v3_shape_and_refuses_nonsense():
    payload = {"result": {"is_healthy": {"probability": 0.9, "threshold": 0.525, "binary": True},
                          "disease": {"suggestions": [
                              {"name": "fungi", "probability": 0.1, "details": {"treatment": {"chemical": [" Spray "]},
                                                                                 "description": ""}},
                              {"name": "pests", "probability": 0.3, "details": {"local_name": "Insect pests"}}]}}}
    health = parse_health(payload)
    assert health.is_healthy
    assert [d.name for d in health.diseases] == ["Insect pests", "fungi"]
    assert health.diseases[1].treatment == (("chemical", ("Spray",)),) and health.diseases[1].description is None
    assert parse_health({"result": {"classification": {"suggestions": []}}}) is None
    with pytest.raises(ValueError):
        parse_health({"result": {"is_healthy": {"probability": "high"}}})
    with pytest.raises(ValueError):
        parse_health({"result": {"is_healthy": {"probability": 0.5}, "disease": {"suggestions": [
            {"name": " ", "probability": 0.2}]}}})


def test_identify_rejects_more_than_five_images_before_calling(client, fake):
    with pytest.raises(ValueError):
        client.identify([ImageInput(b"x")] * 6)
    assert fake.hits("plantid") == 0


def test_identify_keeps_at_most_five_suggestions():
    raw = [{"id": f"{i:016x}", "name": f"Ficus species{chr(97 + i)}", "probability": i / 10, "details": {}}
           for i in range(8)]
    suggestions, _ = parse_identification({"result": {"classification": {"suggestions": raw}}})
    assert [s.probability for s in suggestions] == [0.7, 0.6, 0.5, 0.4, 0.3]


def test_identify_not_found_returns_no_suggestions(client, fake):
    fake.set_mode("plantid", "not_found")
    result = client.identify([ImageInput(b"a rock")])
    assert result.suggestions == ()
    assert result.is_plant < 0.5
    assert client.breaker.state == "closed"


@pytest.mark.parametrize("mode, kind, status", [
    ("500", "server_error", 500),
    ("429", "rate_limited", 429),
    ("401", "auth", 401),
    ("bad_json", "bad_response", 201),
    ("reset", "connection", None),
])
def test_identify_maps_failures(client, fake, mode, kind, status):
    fake.set_mode("plantid", mode)
    with pytest.raises(ProviderError) as error:
        client.identify([ImageInput(MONSTERA)])
    assert (error.value.provider, error.value.kind, error.value.status) == ("plantid", kind, status)


def test_identify_reads_plain_text_error_bodies(client, fake):
    fake.set_mode("plantid", "429")
    with pytest.raises(ProviderError) as error:
        client.identify([ImageInput(MONSTERA)])
    assert "sufficient number of available credits" in error.value.message


def test_identify_times_out_on_a_slow_provider(make_client, fake):
    client = make_client(read_timeout=0.3)
    fake.set_mode("plantid", "slow")
    with pytest.raises(ProviderError) as error:
        client.identify([ImageInput(MONSTERA)])
    assert error.value.kind == "timeout"


def test_identify_with_wrong_key_is_auth_error(make_client):
    client = make_client(PLANTID_API_KEY="not-the-key")
    with pytest.raises(ProviderError) as error:
        client.identify([ImageInput(MONSTERA)])
    assert (error.value.kind, error.value.status) == ("auth", 401)
    assert client.breaker.state == "open"


@pytest.mark.parametrize("mode", ["429", "401"])
def test_identify_opens_breaker_at_once(client, fake, mode):
    fake.set_mode("plantid", mode)
    with pytest.raises(ProviderError):
        client.identify([ImageInput(MONSTERA)])
    assert client.breaker.state == "open"


def test_identify_waits_out_configured_latency(client, fake):
    fake.set_mode("plantid", "ok", delay=0.2)
    assert client.identify([ImageInput(MONSTERA)]).latency_ms >= 200


def test_usage_info_returns_remaining_day_and_records_quota(client, redis, clock):
    before = client.usage_info()
    client.identify([ImageInput(MONSTERA)])
    after = client.usage_info()
    assert after == before - 1
    assert stats.provider_status(redis, "plantid", "closed", clock=clock)["quota_remaining"] == after


def test_identify_records_stats(client, fake, redis, clock):
    client.identify([ImageInput(MONSTERA)])
    fake.set_mode("plantid", "500")
    with pytest.raises(ProviderError):
        client.identify([ImageInput(MONSTERA)])
    status = stats.provider_status(redis, "plantid", client.breaker.state, clock=clock)
    assert (status["calls_today"], status["errors_today"]) == (2, 1)
    assert status["last_error_kind"] == "server_error"


def test_fake_rejects_v2_vocabulary(fake):
    body = {"images": [base64.b64encode(MONSTERA).decode()], "modifiers": ["crops", "similar_images"],
            "plant_details": ["common_names"], "plant_language": "en"}
    response = requests.post(fake.settings["PLANTID_BASE_URL"] + "/identification", json=body,
                             headers={"Api-Key": KEYS["plantid"]}, timeout=5)
    assert response.status_code == 400
    assert "modifiers" in response.json()


def test_fake_rejects_invalid_base64(fake):
    response = requests.post(fake.settings["PLANTID_BASE_URL"] + "/identification",
                             json={"images": ["not base64!"]}, headers={"Api-Key": KEYS["plantid"]}, timeout=5)
    assert (response.status_code, response.json()) == (400, "Invalid image data")


def test_fake_requires_the_api_key_header(fake):
    response = requests.post(fake.settings["PLANTID_BASE_URL"] + "/identification",
                             json={"images": [base64.b64encode(MONSTERA).decode()]}, timeout=5)
    assert (response.status_code, response.text) == (401, "The specified api key not found.")


def test_build_providers_includes_only_configured_providers(fake, redis):
    both = build_providers(fake.settings, redis)
    only_plantid = build_providers({**fake.settings, "PLANTNET_API_KEY": ""}, redis)
    try:
        assert {name: type(p) for name, p in both.items()} == dict(PROVIDERS) == {
            "plantid": PlantIdProvider, "plantnet": PlantNetProvider}
        assert list(only_plantid) == ["plantid"]
        assert only_plantid["plantid"].base_url == fake.settings["PLANTID_BASE_URL"]
        assert only_plantid["plantid"].timeout == (3.05, 20.0)
        assert (only_plantid["plantid"].breaker.fail_max, only_plantid["plantid"].breaker.reset_timeout) == (5, 30.0)
    finally:
        for provider in [*both.values(), *only_plantid.values()]:
            provider.close()


def test_from_settings_without_key_is_not_configured(fake):
    with pytest.raises(ProviderError) as error:
        PlantIdProvider.from_settings({**fake.settings, "PLANTID_API_KEY": None})
    assert error.value.kind == "not_configured"


def test_identify_tells_once_when_its_request_goes_out(client, fake):
    from app.providers.http import telling_when_sent
    told = []
    with telling_when_sent(lambda: told.append(fake.hits("plantid"))):
        client.identify([ImageInput(MONSTERA)])
        client.identify([ImageInput(MONSTERA)])
    # Told before the fake had the request, and for the first request only.
    assert told == [0] and fake.hits("plantid") == 2
