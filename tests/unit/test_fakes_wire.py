"""The fake providers answer with the field names and nesting of the real APIs (shared/providers.md)."""
import base64
import json
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.providers.fakes import KEYS, PLANTID_MODEL_VERSION, PLANTS, FakeProviders, fake_ranking, image_for

DETAILS = "common_names,taxonomy,url,description,image,watering,edible_parts,propagation_methods,synonyms"
MONSTERA = image_for("Monstera deliciosa")


@pytest.fixture(scope="module")
def fake():
    with FakeProviders() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_fake(fake):
    fake.reset()


def plantid_post(fake, body=None, **params):
    body = body or {"images": [base64.b64encode(MONSTERA).decode()], "similar_images": True}
    return requests.post(fake.settings["PLANTID_BASE_URL"] + "/identification", json=body,
                         params={"details": DETAILS, "language": "en", **params},
                         headers={"Api-Key": KEYS["plantid"]}, timeout=5)


def plantnet_post(fake, organs=("leaf",), **params):
    files = [("images", ("a.jpg", MONSTERA, "image/jpeg"))]
    return requests.post(fake.settings["PLANTNET_BASE_URL"] + "/identify/all",
                         params={"api-key": KEYS["plantnet"], "lang": "en", **params},
                         files=files, data={"organs": list(organs)}, timeout=5)


def trefle_get(fake, path, **params):
    return requests.get(fake.settings["TREFLE_BASE_URL"] + path, params={"token": KEYS["trefle"], **params},
                        timeout=5)


def openai_post(fake):
    body = {"model": "gpt-4o-mini", "response_format": {"type": "json_object"},
            "messages": [{"role": "system", "content": "Answer in JSON."},
                         {"role": "user", "content": "Care for Monstera deliciosa"}]}
    return requests.post(fake.settings["OPENAI_BASE_URL"] + "/chat/completions", json=body,
                         headers={"Authorization": f"Bearer {KEYS['openai']}"}, timeout=5)


def test_plantid_identification_has_v3_shape(fake):
    response = plantid_post(fake, {"images": [base64.b64encode(MONSTERA).decode()], "similar_images": True,
                                   "latitude": 52.52, "longitude": 13.405})
    assert response.status_code == 201
    body = response.json()
    assert {"access_token", "model_version", "custom_id", "input", "result", "status", "sla_compliant_client",
            "sla_compliant_system", "created", "completed"} <= set(body)
    assert re.fullmatch(r"[a-z0-9]{15}", body["access_token"])
    assert body["model_version"] == PLANTID_MODEL_VERSION
    assert body["status"] == "COMPLETED"
    assert body["input"]["images"][0].startswith("http")
    assert (body["input"]["latitude"], body["input"]["longitude"]) == (52.52, 13.405)
    assert set(body["result"]["is_plant"]) == {"probability", "threshold", "binary"}
    suggestion = body["result"]["classification"]["suggestions"][0]
    assert re.fullmatch(r"[0-9a-f]{16}", suggestion["id"])
    assert suggestion["name"] == "Monstera deliciosa"
    assert 0 <= suggestion["probability"] <= 1
    image = suggestion["similar_images"][0]
    assert re.fullmatch(r"[0-9a-f]{40}", image["id"])
    assert {"url", "url_small", "similarity"} <= set(image)
    details = suggestion["details"]
    assert details["entity_id"] == suggestion["id"]
    assert details["language"] == "en"
    assert set(details["taxonomy"]) == {"kingdom", "phylum", "class", "order", "family", "genus"}
    assert set(details["description"]) == {"value", "citation", "license_name", "license_url"}
    assert set(details["watering"]) == {"min", "max"}
    assert isinstance(details["common_names"], list)
    assert "plant_name" not in suggestion and "plant_details" not in suggestion


def test_plantid_details_hold_only_what_was_asked(fake):
    response = plantid_post(fake, details="common_names")
    details = response.json()["result"]["classification"]["suggestions"][0]["details"]
    assert set(details) == {"common_names", "language", "entity_id"}


def test_plantid_produces_nulls_for_unknown_care(fake):
    body = plantid_post(fake).json()
    all_details = [s["details"] for s in body["result"]["classification"]["suggestions"]]
    image = image_for("Chlorophytum comosum")
    body = plantid_post(fake, {"images": [base64.b64encode(image).decode()]}).json()
    all_details += [s["details"] for s in body["result"]["classification"]["suggestions"]]
    assert any(d["edible_parts"] is None for d in all_details)


def test_plantid_health_adds_disease_results(fake):
    body = plantid_post(fake, {"images": [base64.b64encode(MONSTERA).decode()], "health": "all"}).json()
    assert set(body["result"]["is_healthy"]) == {"probability", "threshold", "binary"}
    disease = body["result"]["disease"]["suggestions"][0]
    assert {"local_name", "description", "treatment", "classification", "language", "entity_id"} <= set(
        disease["details"])
    assert body["input"]["health"] == "all"


def test_plantid_async_flow_polls_to_completion(fake):
    created = plantid_post(fake, **{"async": "true"}).json()
    assert created["status"] == "CREATED" and "result" not in created and created["completed"] is None
    url = f"{fake.settings['PLANTID_BASE_URL']}/identification/{created['access_token']}"
    headers = {"Api-Key": KEYS["plantid"]}
    first = requests.get(url, headers=headers, timeout=5).json()
    assert first["status"] == "SUBMITTED" and "result" not in first
    done = requests.get(url, params={"details": "taxonomy"}, headers=headers, timeout=5).json()
    assert done["status"] == "COMPLETED"
    assert set(done["result"]["classification"]["suggestions"][0]["details"]) == {"taxonomy", "language",
                                                                                   "entity_id"}


def test_plantid_unknown_identification_is_404_text(fake):
    response = requests.get(fake.settings["PLANTID_BASE_URL"] + "/identification/doesnotexist00",
                            headers={"Api-Key": KEYS["plantid"]}, timeout=5)
    assert (response.status_code, response.text) == (404, "The requested identification does not exist.")


def test_plantid_usage_info_shape(fake):
    response = requests.get(fake.settings["PLANTID_BASE_URL"] + "/usage_info",
                            headers={"Api-Key": KEYS["plantid"]}, timeout=5)
    body = response.json()
    assert set(body) == {"active", "credit_limits", "used", "remaining", "can_use_credits"}
    for key in ("credit_limits", "used", "remaining"):
        assert set(body[key]) == {"day", "week", "month", "total"}
    assert set(body["can_use_credits"]) == {"value", "reason"}


def test_plantid_bad_json_mode_truncates_a_2xx_body(fake):
    fake.set_mode("plantid", "bad_json")
    response = plantid_post(fake)
    assert response.status_code == 201
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_plantnet_identify_has_v2_shape(fake):
    response = plantnet_post(fake, **{"include-related-images": "true"})
    assert response.status_code == 200
    body = response.json()
    assert {"query", "language", "preferedReferential", "bestMatch", "results", "version",
            "remainingIdentificationRequests"} <= set(body)
    assert {"project", "images", "organs", "includeRelatedImages"} <= set(body["query"])
    assert body["query"]["organs"] == ["leaf"]
    assert set(body["predictedOrgans"][0]) == {"image", "organ", "score"}
    result = body["results"][0]
    species = result["species"]
    assert species["scientificNameWithoutAuthor"] == "Monstera deliciosa"
    assert species["scientificNameAuthorship"] == "Liebm."
    assert species["scientificName"] == "Monstera deliciosa Liebm." == body["bestMatch"]
    for rank in ("genus", "family"):
        assert set(species[rank]) == {"scientificNameWithoutAuthor", "scientificNameAuthorship", "scientificName"}
    assert isinstance(species["commonNames"], list)
    image = result["images"][0]
    assert {"organ", "author", "license", "date", "url", "citation"} <= set(image)
    assert set(image["url"]) == {"o", "m", "s"}
    assert set(image["date"]) == {"timestamp", "string"}
    assert isinstance(result["gbif"]["id"], str) and isinstance(result["powo"]["id"], str)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert isinstance(body["remainingIdentificationRequests"], int)
    assert response.headers["RateLimit-Policy"].startswith('"dailyQuota";q=500;w=86400')
    assert f"r={body['remainingIdentificationRequests']}" in response.headers["RateLimit"]


def test_plantnet_related_images_only_when_asked(fake):
    body = plantnet_post(fake).json()
    assert all("images" not in result for result in body["results"])


def test_plantnet_quota_counts_down(fake):
    first = plantnet_post(fake).json()["remainingIdentificationRequests"]
    second = plantnet_post(fake).json()["remainingIdentificationRequests"]
    assert second == first - 1


def test_plantnet_not_found_is_boom_404(fake):
    fake.set_mode("plantnet", "not_found")
    response = plantnet_post(fake)
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found", "message": "Species not found"}


def test_plantnet_rejects_unknown_organ(fake):
    response = plantnet_post(fake, organs=("roots",))
    assert response.status_code == 400
    assert set(response.json()) == {"statusCode", "error", "message"}


def test_trefle_search_has_v1_shape(fake):
    body = trefle_get(fake, "/species/search", q="monstera").json()
    assert set(body) == {"data", "links", "meta"}
    assert body["meta"]["total"] == len(body["data"]) == 2
    hit = body["data"][0]
    assert {"id", "common_name", "slug", "scientific_name", "year", "bibliography", "author", "status", "rank",
            "family_common_name", "family", "genus_id", "genus", "image_url", "synonyms", "links"} <= set(hit)
    assert {"self", "first", "last"} <= set(body["links"])


def test_trefle_species_has_v1_shape(fake):
    slug = trefle_get(fake, "/species/search", q="Monstera deliciosa").json()["data"][0]["slug"]
    body = trefle_get(fake, f"/species/{slug}").json()
    data = body["data"]
    assert set(body["meta"]) == {"images_count", "sources_count", "synonyms_count", "last_modified"}
    assert data["growth"]["light"] == 6
    assert set(data["growth"]["minimum_temperature"]) == {"deg_f", "deg_c"}
    assert data["growth"]["minimum_temperature"]["deg_f"] == 50.0
    assert set(data["growth"]["spread"]) == {"cm"}
    assert set(data["specifications"]["average_height"]) == {"cm"}
    assert set(data["images"]) == {"flower", "leaf", "habit", "fruit", "bark", "other"}
    assert set(data["images"]["leaf"][0]) == {"id", "image_url", "copyright"}
    assert data["common_names"]["en"][0] == "Swiss cheese plant"
    assert set(data["distribution"]) == {"native", "introduced"}
    assert set(data["synonyms"][0]) == {"id", "name", "author"}
    assert "light" not in data["specifications"]  # the seed's wrong path


def test_trefle_unknown_species_is_404(fake):
    response = trefle_get(fake, "/species/no-such-plant")
    assert response.status_code == 404
    assert response.json() == {"error": True, "message": "Couldn't find Species"}


def test_openai_completion_has_chat_shape(fake):
    response = openai_post(fake)
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    choice = body["choices"][0]
    assert set(choice) == {"index", "message", "logprobs", "finish_reason"}
    assert choice["finish_reason"] == "stop"
    assert set(choice["message"]) == {"role", "content", "refusal", "annotations"}
    assert isinstance(json.loads(choice["message"]["content"]), dict)
    assert {"prompt_tokens", "completion_tokens", "total_tokens"} <= set(body["usage"])
    assert response.headers["x-request-id"]


def test_openai_quota_error_envelope(fake):
    fake.set_mode("openai", "429")
    response = openai_post(fake)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "insufficient_quota"


def test_control_endpoint_sets_mode_and_reports_hits(fake):
    control = fake.url + "/_control"
    response = requests.post(control, json={"provider": "plantnet", "mode": "500", "delay": 0.05}, timeout=5)
    assert response.json() == {"provider": "plantnet", "mode": "500", "delay": 0.05}
    assert plantnet_post(fake).status_code == 500
    state = requests.get(control, timeout=5).json()
    assert state["hits"]["plantnet"] == 1
    assert state["modes"]["plantnet"] == {"mode": "500", "delay": 0.05}
    assert requests.post(control + "/reset", timeout=5).status_code == 200
    assert fake.hits("plantnet") == 0
    assert fake.mode("plantnet") == ("ok", 0.0)


@pytest.mark.parametrize("payload", [
    {"provider": "plantnet", "mode": "sideways"},
    {"provider": "nobody", "mode": "ok"},
    {"provider": "plantid", "mode": "length"},
    {"mode": "ok"},
])
def test_control_endpoint_rejects_bad_requests(fake, payload):
    assert requests.post(fake.url + "/_control", json=payload, timeout=5).status_code == 400


def test_reset_mode_closes_the_connection_without_an_answer(fake):
    fake.set_mode("trefle", "reset")
    with pytest.raises(requests.ConnectionError):
        trefle_get(fake, "/species/search", q="ficus")


def test_hit_counters_are_thread_safe(fake):
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: trefle_get(fake, "/species/search", q="ficus").status_code, range(24)))
    assert fake.hits("trefle") == 24
    assert fake.hits()["plantid"] == 0


def test_media_urls_serve_placeholder_images(fake):
    body = plantnet_post(fake, **{"include-related-images": "true"}).json()
    response = requests.get(body["results"][0]["images"][0]["url"]["s"], timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"


def test_fake_ranking_is_deterministic_and_lists_known_plants():
    assert fake_ranking([b"photo"], "plantid") == fake_ranking([b"photo"], "plantid")
    assert fake_ranking([b"photo"], "plantid") != fake_ranking([b"other photo"], "plantid")
    names = [plant.scientific_name for plant, _ in fake_ranking([b"photo"], "plantnet")]
    assert len(set(names)) == 3
    assert len(PLANTS) >= 20


def test_stop_wakes_requests_sleeping_in_slow_mode():
    server = FakeProviders(slow_seconds=30)
    server.set_mode("plantid", "slow")
    outcome = []

    def call():
        try:
            plantid_post(server)
        except requests.RequestException as exc:
            outcome.append(type(exc))

    thread = threading.Thread(target=call)
    thread.start()
    while server.hits("plantid") == 0:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2
    assert outcome and issubclass(outcome[0], requests.ConnectionError)


def test_main_runs_in_the_foreground_and_prints_settings():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "app.providers.fakes", "--port", str(port)],
                               stdout=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline().strip() for _ in range(8)]
        assert f"export PLANTID_BASE_URL=http://127.0.0.1:{port}/plantid/api/v3" in lines
        assert f"export PLANTNET_API_KEY={KEYS['plantnet']}" in lines
        assert requests.get(f"http://127.0.0.1:{port}/_control", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=5)
        process.stdout.close()
    assert process.returncode == 0
