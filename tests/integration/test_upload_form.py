"""The upload form without JavaScript: an organ per photo, and refusals that give the form back as typed."""
import re

import pytest
from markupsafe import escape
from sqlalchemy import select

from app.core import messages
from app.extensions import db
from app.identify.models import Identification
from tests import image_factory as images
from tests.identify_helpers import post_upload, snapshot


@pytest.fixture
def ready(app_ctx, fake_providers):
    return fake_providers


def _said(message: str) -> str:
    return str(escape(message))


def test_upload_page_offers_photos_2_to_5_their_own_organ_defaulting_to_photo_1(client, ready):
    page = client.get("/identify").text
    assert "Photos show different parts?" in page
    for n in range(2, 6):
        assert re.search(rf'<label for="organ-{n}">Photo {n}</label>\s*<select id="organ-{n}" name="organ">\s*'
                         r'<option value="">Same as photo 1</option>', page)
    assert 'id="organ-6"' not in page
    assert "starting with the one you took with the camera" in page
    assert 'data-max-photos="5"' in page and f'data-too-many="{_said(messages.UPLOAD_TOO_MANY_PHOTOS)}"' in page


def test_blank_organs_mean_same_as_photo_1_as_the_form_posts_them(client, ready):
    # The form sends its five choices whatever the number of photos: photo 1's, then photos 2 to 5.
    response = post_upload(client, [images.jpeg(color=(10, 90, 10)), images.jpeg(color=(20, 90, 10)),
                                    images.jpeg(color=(30, 90, 10))],
                           extra={"organ": ["leaf", "", "fruit", "", ""]})
    assert response.status_code == 303
    ident = db.session.scalars(select(Identification)).one()
    assert [i.organ for i in ident.images] == ["leaf", "leaf", "fruit"]


@pytest.mark.parametrize("fields, message", [
    ({"latitude": "91", "longitude": "0"}, messages.UPLOAD_BAD_LATITUDE),
    ({"latitude": "abc", "longitude": "1"}, messages.UPLOAD_BAD_LATITUDE),
    ({"latitude": "nan", "longitude": "1"}, messages.UPLOAD_BAD_LATITUDE),
    ({"latitude": "10", "longitude": "181"}, messages.UPLOAD_BAD_LONGITUDE),
    ({"latitude": "10"}, messages.UPLOAD_HALF_LOCATION),
    ({"longitude": "10"}, messages.UPLOAD_HALF_LOCATION),
    ({"organ": "stem"}, messages.UPLOAD_BAD_DETAILS),
    ({"organ": ["leaf", "flower"]}, messages.UPLOAD_EXTRA_ORGANS),
], ids=["latitude-91", "latitude-abc", "latitude-nan", "longitude-181", "only-latitude", "only-longitude",
        "organ", "organ-for-a-missing-photo"])
def test_each_details_problem_gets_its_own_message(app, client, ready, fields, message):
    before = snapshot(app)
    response = post_upload(client, [images.jpeg()], extra=fields, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert _said(message) in response.text
    if message != messages.UPLOAD_BAD_DETAILS:
        assert "organ must be" not in response.text
    assert snapshot(app) == before


def test_refused_post_without_script_shows_the_form_again_as_typed(app, client, ready):
    before = snapshot(app)
    response = post_upload(client, [images.jpeg()] * 3,
                           extra={"organ": ["flower", "", "bark", "", ""], "health": "1",
                                  "latitude": "91", "longitude": "-0.12"})
    assert response.status_code == 422
    page = response.text
    assert "<title>Problem: Identify a plant" in page and "Back to the home page" not in page
    refusal = re.search(r'<form class="card upload-form".*?<div class="flash flash-error upload-refused" '
                        r'role="alert" tabindex="-1" autofocus>(.*?)</div>', page, re.DOTALL)
    assert refusal, "the problem is not at the top of the form"
    assert _said(messages.UPLOAD_BAD_LATITUDE) in refusal.group(1)
    assert _said(messages.UPLOAD_CHOOSE_AGAIN) in refusal.group(1)
    assert 'name="latitude" inputmode="decimal" placeholder="51.5" value="91"' in page
    assert 'value="-0.12"' in page
    assert 'name="health" value="1" checked' in page
    assert re.search(r'<select id="organ" name="organ">.*?<option value="flower" selected>', page, re.DOTALL)
    assert re.search(r'<select id="organ-3" name="organ">.*?<option value="bark" selected>', page, re.DOTALL)
    assert re.search(r'<details class="field upload-organ-each" open>\s*<summary>Photos show different parts', page)
    assert snapshot(app) == before


@pytest.mark.parametrize("status", [413, 415, 422])
def test_every_refusal_without_script_keeps_its_status_and_gives_the_form_back(app, client, ready, monkeypatch,
                                                                                status):
    photos, message = {
        413: ([b"\xff" * 30_000], messages.UPLOAD_TOO_LARGE.format(limit="20 KB")),
        415: ([b"this is not an image at all" * 10], messages.UPLOAD_BAD_TYPE),
        422: ([images.jpeg()] * 6, messages.UPLOAD_TOO_MANY_PHOTOS),
    }[status]
    if status == 413:
        monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 20_000)
    response = post_upload(client, photos)
    assert response.status_code == status
    assert 'class="flash flash-error upload-refused" role="alert"' in response.text
    assert _said(message) in response.text
    assert 'enctype="multipart/form-data"' in response.text


def test_refusal_without_a_photo_does_not_ask_to_choose_them_twice(client, ready):
    response = post_upload(client, [])
    assert response.status_code == 422
    assert _said(messages.UPLOAD_NO_PHOTO) in response.text
    assert _said(messages.UPLOAD_CHOOSE_AGAIN) not in response.text


def test_refusal_to_the_script_is_still_the_message_fragment(client, ready):
    response = post_upload(client, [images.jpeg()], extra={"latitude": "91", "longitude": "0"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "<html" not in response.text and "<form" not in response.text
    assert 'class="flash flash-error" role="alert" data-status="422"' in response.text


def test_csrf_failure_without_script_is_still_its_error_page(client, ready):
    response = post_upload(client, [images.jpeg()], token="not-a-token",
                           extra={"latitude": "91", "longitude": "0"})
    assert response.status_code == 400
    assert _said(messages.CSRF_FAILED) in response.text and "upload-refused" not in response.text


def test_rate_limited_post_without_script_gets_the_form_back_saying_when(app, client, ready, monkeypatch):
    from app.extensions import limiter
    monkeypatch.setitem(app.config, "IDENTIFY_ANON_RATE_LIMIT", "1 per minute")
    limiter.reset()  # no count left from another test of this address's allowance
    assert post_upload(client, [images.jpeg()]).status_code == 303
    before = snapshot(app)
    response = post_upload(client, [images.jpeg()], extra={"latitude": "51.5", "longitude": "-0.12"})
    assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 60
    refusal = re.search(r'<div class="flash flash-error upload-refused" role="alert"[^>]*>(.*?)</div>',
                        response.text, re.DOTALL)
    assert refusal and "Please wait" in refusal.group(1)
    assert 'enctype="multipart/form-data"' in response.text
    assert 'value="51.5"' not in response.text  # the refused body is not read
    assert snapshot(app) == before
    # The script and other pages still get the message alone.
    fragment = post_upload(client, [images.jpeg()], headers={"HX-Request": "true"})
    assert fragment.status_code == 429 and "<form" not in fragment.text
    assert "Please wait" in fragment.text


def test_the_form_states_the_configured_size_limit(app, client, ready, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 8 * 1024 * 1024)
    assert "up to 8 MB each" in client.get("/identify").text
