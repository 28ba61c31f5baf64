"""Pl@ntNet v2 client against the local fake over real HTTP."""
import socket

import pytest
import requests

from app.providers import stats
from app.providers.base import ImageInput, ProviderError
from app.providers.fakes import KEYS, PLANTNET_DAILY_QUOTA, fake_ranking, image_for
from app.providers.plantnet import MIN_SCORE, PlantNetProvider, parse_identification


CLIENT_CLASS = PlantNetProvider


MONSTERA = image_for("Monstera deliciosa")


def image_with_low_third_result():
    for i in range(10_000):
        data = f"low-third-{i}".encode()
        if fake_ranking([data], "plantnet")[2][1] < MIN_SCORE:
            return data
    raise LookupError


def test_identify_parses_v2_results(client):
    result = client.identify([ImageInput(MONSTERA)])
    expected = fake_ranking([MONSTERA], "plantnet")
    top = result.suggestions[0]
    assert result.provider == "plantnet"
    assert top.scientific_name == "Monstera deliciosa"
    assert top.authorship == "Liebm."
    assert top.probability == pytest.approx(expected[0][1])
    assert (top.family, top.genus) == ("Araceae", "Monstera")
    assert top.common_names == ("Swiss cheese plant", "Split-leaf philodendron")
    assert [source for source, _ in top.external_ids] == ["gbif", "powo"]
    assert all(value for _, value in top.external_ids)
    assert top.images and all("/s/" in url for url in top.images)
    assert result.quota_remaining == PLANTNET_DAILY_QUOTA - 1
    assert result.is_plant is None


def test_identify_agrees_with_plantid_on_most_images(client):
    photos = [[f"photo-{i}".encode()] for i in range(200)]
    agreeing = sum(fake_ranking(p, "plantnet")[0][0] is fake_ranking(p, "plantid")[0][0] for p in photos)
    assert 150 <= agreeing < 200
    other = image_for("Ficus lyrata", agree=False)
    assert client.identify([ImageInput(other)]).suggestions[0].scientific_name != "Ficus lyrata"


def test_identify_drops_results_under_min_score(client):
    image = image_with_low_third_result()
    result = client.identify([ImageInput(image)])
    assert len(result.suggestions) == 2
    assert all(s.probability >= MIN_SCORE for s in result.suggestions)


def test_identify_keeps_at_most_five_results():
    raw = [{"score": 0.5 - i / 100, "species": {"scientificNameWithoutAuthor": f"Ficus sp{chr(97 + i)}"}}
           for i in range(8)]
    suggestions, remaining = parse_identification({"results": raw, "remainingIdentificationRequests": 12})
    assert len(suggestions) == 5
    assert remaining == 12


def test_identify_parses_legacy_common_name_objects_and_int_gbif_ids():
    raw = {"score": 0.9, "species": {"scientificNameWithoutAuthor": "Hedera helix", "commonNames": [{"value": "Ivy"}]},
           "gbif": {"id": 2888589}}
    suggestions, _ = parse_identification({"results": [raw]})
    assert suggestions[0].common_names == ("Ivy",)
    assert suggestions[0].external_ids == (("gbif", "2888589"),)


def test_identify_sends_one_organ_per_image(client, fake):
    images = [ImageInput(MONSTERA, organ="leaf"), ImageInput(b"flower photo", organ="flower", content_type="image/png"),
              ImageInput(b"third photo")]
    client.identify(images)
    request = fake.last_request("plantnet")
    body = request.body
    assert request.path == "/plantnet/v2/identify/all"
    assert request.query["api-key"] == [KEYS["plantnet"]]
    assert request.query["include-related-images"] == ["true"]
    assert request.query["lang"] == ["en"]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert body.count(b'name="images"') == 3
    assert body.count(b'name="organs"') == 3
    assert body.index(b"\r\n\r\nleaf\r\n") < body.index(b"\r\n\r\nflower\r\n") < body.index(b"\r\n\r\nauto\r\n")
    assert b"Content-Type: image/png" in body and MONSTERA in body


def test_identify_uses_configured_project(make_client, fake):
    make_client(PLANTNET_PROJECT="k-world-flora").identify([ImageInput(MONSTERA)])
    assert fake.last_request("plantnet").path == "/plantnet/v2/identify/k-world-flora"


@pytest.mark.parametrize("image", [ImageInput(b"x", organ="roots"), ImageInput(b"x", content_type="image/webp")])
def test_identify_rejects_what_plantnet_refuses_before_calling(client, fake, image):
    with pytest.raises(ValueError):
        client.identify([image])
    assert fake.hits("plantnet") == 0


def test_identify_species_not_found_is_an_empty_result(client, fake, redis, clock):
    fake.set_mode("plantnet", "not_found")
    result = client.identify([ImageInput(b"a rock")])
    assert result.suggestions == ()
    assert client.breaker.failure_count == 0
    assert stats.provider_status(redis, "plantnet", "closed", clock=clock)["errors_today"] == 0


@pytest.mark.parametrize("mode, kind, status", [
    ("500", "server_error", 500),
    ("429", "rate_limited", 429),
    ("401", "auth", 401),
    ("bad_json", "bad_response", 200),
    ("reset", "connection", None),
])
def test_identify_maps_failures(client, fake, mode, kind, status):
    fake.set_mode("plantnet", mode)
    with pytest.raises(ProviderError) as error:
        client.identify([ImageInput(MONSTERA)])
    assert (error.value.provider, error.value.kind, error.value.status) == ("plantnet", kind, status)


def test_identify_times_out_on_a_slow_provider(make_client, fake):
    client = make_client(read_timeout=0.3)
    fake.set_mode("plantnet", "slow")
    with pytest.raises(ProviderError) as error:
        client.identify([ImageInput(MONSTERA)])
    assert error.value.kind == "timeout"


def test_identify_429_opens_breaker_for_retry_after(client, fake):
    fake.set_mode("plantnet", "429")
    with pytest.raises(ProviderError) as error:
        client.identify([ImageInput(MONSTERA)])
    assert error.value.retry_after == 60
    assert client.breaker.state == "open"
    assert client.breaker.open_until == pytest.approx(client.breaker.clock() + 60)


def test_identify_with_wrong_key_is_auth_error(make_client):
    client = make_client(PLANTNET_API_KEY="wrong")
    with pytest.raises(ProviderError) as error:
        client.identify([ImageInput(MONSTERA)])
    assert (error.value.kind, error.value.status) == ("auth", 401)


def test_identify_error_text_never_contains_the_api_key(make_client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = make_client(PLANTNET_BASE_URL=f"http://127.0.0.1:{closed_port}/v2")
    with pytest.raises(ProviderError) as error:
        client.identify([ImageInput(MONSTERA)])
    assert error.value.kind == "connection"
    assert "api-key=***" in error.value.message
    seen = [error.value, error.value.__cause__, error.value.__context__]
    assert all(KEYS["plantnet"] not in str(part) for part in seen)


def test_identify_records_quota_in_stats(client, redis, clock):
    client.identify([ImageInput(MONSTERA)])
    client.identify([ImageInput(MONSTERA)])
    status = stats.provider_status(redis, "plantnet", client.breaker.state, clock=clock)
    assert status["quota_remaining"] == PLANTNET_DAILY_QUOTA - 2
    assert status["calls_today"] == 2


def post_raw(fake, images, organs):
    files = [("images", (f"i{n}.jpg", data, "image/jpeg")) for n, data in enumerate(images)]
    return requests.post(fake.settings["PLANTNET_BASE_URL"] + "/identify/all",
                         params={"api-key": KEYS["plantnet"]}, files=files, data={"organs": organs}, timeout=5)


def test_fake_rejects_organs_count_mismatch(fake):
    # The seed's defect: four organs for a single image.
    response = post_raw(fake, [MONSTERA], ["flower", "leaf", "fruit", "bark"])
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert "organs" in response.json()["message"].lower()


def test_fake_treats_missing_organs_as_auto(fake):
    response = post_raw(fake, [MONSTERA], [])
    assert response.status_code == 200
    assert response.json()["query"]["organs"] == ["auto"]


def test_fake_requires_the_api_key_param(fake):
    response = requests.post(fake.settings["PLANTNET_BASE_URL"] + "/identify/all",
                             files=[("images", ("a.jpg", MONSTERA, "image/jpeg"))], timeout=5)
    assert response.status_code == 401
    assert response.json() == {"statusCode": 401, "error": "Unauthorized", "message": "Invalid API key"}


def test_identify_tells_once_when_its_request_goes_out(client, fake):
    from app.providers.http import telling_when_sent
    told = []
    with telling_when_sent(lambda: told.append(fake.hits("plantnet"))):
        client.identify([ImageInput(MONSTERA, "leaf")])
    assert told == [0] and fake.hits("plantnet") == 1
