"""Uploading photos to /identify: the happy path, every bad input, and nothing stored when refused."""
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


def test_upload_page_works_without_javascript(client, ready):
    page = client.get("/identify")
    assert page.status_code == 200
    assert 'accept="image/*" capture="environment"' in page.text
    assert 'name="photo" accept="image/*" multiple' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    for organ in ("leaf", "flower", "fruit", "bark", "auto"):
        assert f'value="{organ}"' in page.text


def test_upload_page_says_how_to_configure_when_no_provider(client, app_ctx):
    page = client.get("/identify")
    assert "No identification service is configured" in page.text
    assert "PLANTID_API_KEY" in page.text and "PLANTNET_API_KEY" in page.text
    assert 'name="photo"' not in page.text


def test_upload_without_provider_is_refused_and_stores_nothing(app, client, app_ctx):
    before = snapshot(app)
    response = post_upload(client, [images.jpeg(), images.png()])  # the second photo's save fails
    assert response.status_code == 503
    assert str(escape(messages.IDENTIFY_NO_PROVIDER)) in response.text
    assert snapshot(app) == before


def test_upload_redirects_to_a_completed_result(app, client, ready):
    response = post_upload(client, [images.jpeg()], organ="leaf")
    assert response.status_code == 303
    ident = db.session.scalars(select(Identification)).one()
    assert response.headers["Location"].endswith(f"/identifications/{ident.id}")
    assert ident.status == "completed"
    assert ident.session_key and ident.owner_id is None
    assert [i.organ for i in ident.images] == ["leaf"]
    assert ident.suggestions and ident.suggestions[0].rank == 1
    assert ready.hits("plantid") == 1 and ready.hits("plantnet") == 1
    storage = app.extensions["storage"]
    assert storage.exists(ident.images[0].storage_key) and storage.exists(ident.images[0].thumbnail_key)


def test_upload_by_signed_in_user_is_owned(client, auth, users, ready):
    auth.login()
    post_upload(client, [images.jpeg()])
    ident = db.session.scalars(select(Identification)).one()
    assert ident.owner_id == users["alice"].id and ident.session_key is None


def test_upload_strips_gps_before_storing(app, client, ready):
    post_upload(client, [images.exif_gps_jpeg()])
    ident = db.session.scalars(select(Identification)).one()
    stored = app.extensions["storage"].open(ident.images[0].storage_key)
    assert b"Exif" not in stored and b"GPS" not in stored


def test_upload_of_several_photos_keeps_each_organ(client, ready):
    post_upload(client, [images.jpeg(), images.png()], extra={"organ": ["leaf", "flower"]})
    ident = db.session.scalars(select(Identification)).one()
    assert [i.organ for i in ident.images] == ["leaf", "flower"]
    assert ready.last_request("plantnet") is not None


def test_upload_through_htmx_answers_with_a_redirect_header(app, client, ready, monkeypatch):
    from rq import Queue
    # Queued, not run inline: the script follows the redirect to the progress page.
    redis = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "queues", {n: Queue(n, connection=redis) for n in ("fast", "slow")})
    response = post_upload(client, [images.jpeg()], headers={"HX-Request": "true"})
    assert response.status_code == 201
    assert "/identifications/" in response.headers["HX-Redirect"]


def test_the_job_makes_the_thumbnail_and_pages_show_the_photo_until_then(app, client, ready, monkeypatch):
    from PIL import Image
    from rq import Queue

    from app.identify.service import run_identification
    redis = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "queues", {n: Queue(n, connection=redis) for n in ("fast", "slow")})
    post_upload(client, [images.jpeg(1200, 900)])
    ident = db.session.scalars(select(Identification)).one()
    storage = app.extensions["storage"]
    image = ident.images[0]
    assert ident.status == "queued" and not storage.exists(image.thumbnail_key)
    before = client.get(f"/identifications/{ident.id}/images/0/thumb")
    assert before.status_code == 200 and before.data == storage.open(image.storage_key)
    assert before.headers["Cache-Control"] == "private, no-cache"

    assert run_identification(ident.id) == "completed"

    after = client.get(f"/identifications/{ident.id}/images/0/thumb")
    assert after.data == storage.open(image.thumbnail_key)
    assert after.headers["Cache-Control"] == "private, max-age=86400"
    assert Image.open(__import__("io").BytesIO(after.data)).size == (320, 240)


def test_photo_seen_before_is_answered_in_place_for_the_script(client, ready):
    post_upload(client, [images.jpeg()])
    response = post_upload(client, [images.jpeg()], headers={"HX-Request": "true"})
    first, second = db.session.scalars(select(Identification).order_by(Identification.created_at)).all()
    assert response.status_code == 200 and "HX-Redirect" not in response.headers
    assert response.headers["HX-Push-Url"] == f"/identifications/{second.id}"
    assert second.status == "completed" and second.from_cache
    assert 'data-status="completed"' in response.text and "<main" in response.text
    assert second.suggestions[0].scientific_name in response.text
    assert ready.hits("plantid") == 1  # no second provider call
    # Without the script the same answer is a redirect to the page (post, redirect, get).
    plain = post_upload(client, [images.jpeg()])
    assert plain.status_code == 303 and "/identifications/" in plain.headers["Location"]


HOSTILE = [
    ("svg_as_jpg", images.svg_as_jpg, 415, messages.UPLOAD_BAD_TYPE),
    ("html", images.html_bytes, 415, messages.UPLOAD_BAD_TYPE),
    ("pdf", images.pdf_bytes, 415, messages.UPLOAD_BAD_TYPE),
    ("gif", images.gif, 415, messages.UPLOAD_BAD_TYPE),
    ("polyglot", images.polyglot, 415, messages.UPLOAD_POLYGLOT),
    ("truncated", images.truncated_jpeg, 422, messages.UPLOAD_CORRUPT),
    ("damaged_scan", images.damaged_jpeg, 422, messages.UPLOAD_CORRUPT),
    ("scan_cut_short", images.cut_short_jpeg, 422, messages.UPLOAD_CORRUPT),
    ("scan_cut_short_turned", lambda: images.cut_short_jpeg(images.noisy_jpeg(orientation=6)), 422,
     messages.UPLOAD_CORRUPT),
    ("scan_zero_padded", images.zero_padded_jpeg, 422, messages.UPLOAD_CORRUPT),
    ("bomb_header", images.bomb_png, 422, messages.UPLOAD_TOO_MANY_PIXELS),
    ("60mp_png", lambda: images.big_png(8000, 7500), 422, messages.UPLOAD_TOO_MANY_PIXELS),
    ("tiny", images.tiny_png, 422, messages.UPLOAD_TOO_SMALL),
    ("empty_file", lambda: b"", 422, messages.UPLOAD_CORRUPT),
]


@pytest.mark.parametrize(("name", "make", "status", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_photo_is_refused_and_nothing_stored(app, client, ready, name, make, status, message):
    data = make()
    post_upload(client, [images.jpeg()])  # a first success, so the snapshot is not trivially empty
    before = snapshot(app)
    response = post_upload(client, [(data, "plant.jpg")])
    assert response.status_code == status
    assert str(escape(message)) in response.text
    assert snapshot(app) == before
    assert ready.hits("plantid") == 1


def test_damaged_second_photo_keeps_nothing_of_the_first(app, client, ready):
    # The decoding check runs while the photos are stored: the first one's file must go again.
    post_upload(client, [images.jpeg()])
    before = snapshot(app)
    response = post_upload(client, [images.noisy_jpeg(seed=5), images.damaged_jpeg()])
    assert response.status_code == 422
    assert str(escape(messages.UPLOAD_CORRUPT)) in response.text
    assert snapshot(app) == before
    assert ready.hits("plantid") == 1


def test_queue_down_answers_503_and_keeps_nothing(app, client, ready, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError
    post_upload(client, [images.jpeg()])
    before = snapshot(app)

    def refuse(*args, **kwargs):
        raise RedisConnectionError("queue down")

    monkeypatch.setattr(app.extensions["queues"]["fast"], "enqueue", refuse)
    response = post_upload(client, [images.jpeg(color=(200, 10, 10))])
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert str(escape(messages.QUEUE_DOWN)) in response.text
    after = snapshot(app)
    # The queued event left its progress channel untouched; the quota was given back.
    assert after == before
    assert ready.hits("plantid") == 1


def test_a_webp_photo_reaches_both_providers_as_a_jpeg(app, client, ready):
    # Pl@ntNet takes JPEG and PNG only: a WebP stored as it came was never sent there.
    response = post_upload(client, [(images.webp(), "plant.webp")])
    assert response.status_code == 303
    ident = db.session.scalars(select(Identification)).one()
    assert ident.status == "completed" and not ident.partial
    assert ident.images[0].content_type == "image/jpeg" and ident.images[0].storage_key.endswith(".jpg")
    sent = ready.last_request("plantnet")
    assert sent is not None and b"Content-Type: image/jpeg" in sent.body and b"image/webp" not in sent.body


def test_empty_upload_is_refused_and_nothing_stored(app, client, ready):
    before = snapshot(app)
    response = post_upload(client, [])
    assert response.status_code == 422
    assert str(escape(messages.UPLOAD_NO_PHOTO)) in response.text
    assert snapshot(app) == before


def test_six_photos_are_refused_and_nothing_stored(app, client, ready):
    before = snapshot(app)
    response = post_upload(client, [images.jpeg(400, 300)] * 6)
    assert response.status_code == 422
    assert str(escape(messages.UPLOAD_TOO_MANY_PHOTOS)) in response.text
    assert snapshot(app) == before


def test_30mb_body_is_refused_with_413_and_nothing_stored(app, client, ready):
    before = snapshot(app)
    response = post_upload(client, [(images.jpeg() + b"\0" * (30 * 1024 * 1024), "huge.jpg")])
    assert response.status_code == 413
    assert str(escape(messages.UPLOAD_TOO_LARGE.format(limit="15 MB"))) in response.text
    assert snapshot(app) == before


def test_body_over_the_total_cap_is_refused_before_reading(app, client, ready, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 100_000)
    before = snapshot(app)
    response = post_upload(client, [(b"\0" * 200_000, "a.jpg")] * 5 + [(b"\0" * 200_000, "b.jpg")])
    assert response.status_code == 413
    assert snapshot(app) == before


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["missing", "wrong"])
def test_bad_csrf_token_is_refused_and_nothing_stored(app, client, ready, token):
    client.get("/identify")
    before = snapshot(app)
    response = post_upload(client, [images.jpeg()], token=token)
    assert response.status_code == 400
    assert str(escape(messages.CSRF_FAILED)) in response.text
    assert snapshot(app) == before


def test_csrf_token_in_header_is_accepted(client, ready):
    from tests.conftest import csrf_token
    token = csrf_token(client.get("/identify").text)
    response = post_upload(client, [images.jpeg()], token=None, headers={"X-CSRFToken": token})
    assert response.status_code == 303


@pytest.mark.parametrize(("extra", "message"),
                         [({"organ": "stem"}, messages.UPLOAD_BAD_DETAILS),
                          ({"latitude": "91", "longitude": "0"}, messages.UPLOAD_BAD_LATITUDE),
                          ({"latitude": "10"}, messages.UPLOAD_HALF_LOCATION),
                          ({"latitude": "nan", "longitude": "1"}, messages.UPLOAD_BAD_LATITUDE)],
                         ids=["organ", "latitude", "half", "nan"])
def test_bad_details_are_refused_and_nothing_stored(app, client, ready, extra, message):
    before = snapshot(app)
    response = post_upload(client, [images.jpeg()], extra=extra)
    assert response.status_code == 422
    assert str(escape(message)) in response.text
    assert snapshot(app) == before


def test_daily_quota_refuses_the_next_upload(app, client, auth, users, ready, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_QUOTA", 2)
    auth.login()
    assert post_upload(client, [images.jpeg(color=(10, 100, 10))]).status_code == 303
    assert post_upload(client, [images.jpeg(color=(20, 100, 10))]).status_code == 303
    response = post_upload(client, [images.jpeg(color=(30, 100, 10))])
    assert response.status_code == 429
    assert str(escape(messages.UPLOAD_QUOTA.format(limit=2))) in response.text
    assert len(db.session.scalars(select(Identification)).all()) == 2
    # It resets at midnight UTC, as the message says; without the script the form comes back.
    from datetime import datetime, timedelta, timezone
    now = datetime.now(timezone.utc)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert abs(int(response.headers["Retry-After"]) - (midnight - now).total_seconds()) < 60
    assert 'name="latitude"' in response.text


def test_anonymous_uploads_are_rate_limited(app, client, ready, monkeypatch):
    monkeypatch.setitem(app.config, "IDENTIFY_ANON_RATE_LIMIT", "2 per minute")
    assert post_upload(client, [images.jpeg()]).status_code == 303
    assert post_upload(client, [images.jpeg()]).status_code == 303
    response = post_upload(client, [images.jpeg()])
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_storage_failure_answers_503_and_keeps_nothing(app, client, ready, monkeypatch):
    from app.core.storage import StorageError
    storage = app.extensions["storage"]
    calls = []

    def failing_save(key, data, content_type):
        calls.append(key)
        if len(calls) > 1:
            raise StorageError("disk full")
        return original(key, data, content_type)

    original = storage.save
    monkeypatch.setattr(storage, "save", failing_save)
    before = snapshot(app)
    response = post_upload(client, [images.jpeg(), images.png()])  # the second photo's save fails
    assert response.status_code == 503
    assert str(escape(messages.STORAGE_DOWN)) in response.text
    after = snapshot(app)
    after["redis"] = [k for k in after["redis"] if not k.startswith("verdant:identify:quota")]
    assert after == before


def test_thumbnail_storage_failure_keeps_the_identification_and_shows_the_photo(app, client, ready, monkeypatch):
    from app.core.storage import StorageError
    storage = app.extensions["storage"]
    original = storage.save

    def failing_thumbnail(key, data, content_type):
        if key.endswith("-thumb.jpg"):
            raise StorageError("disk full")
        return original(key, data, content_type)

    monkeypatch.setattr(storage, "save", failing_thumbnail)
    response = post_upload(client, [images.jpeg()])
    assert response.status_code == 303
    ident = db.session.scalars(select(Identification)).one()
    assert ident.status == "completed"
    thumbnail = client.get(f"/identifications/{ident.id}/images/0/thumb")
    assert thumbnail.status_code == 200
    assert thumbnail.data == storage.open(ident.images[0].storage_key)


def test_quota_refuses_a_photo_seen_before_and_counts_no_cache_hit(app, client, auth, users, ready, monkeypatch):
    from app.identify import service
    monkeypatch.setitem(app.config, "UPLOAD_QUOTA", 2)
    auth.login()
    photo = images.jpeg(color=(40, 100, 10))
    assert post_upload(client, [photo]).status_code == 303
    assert post_upload(client, [photo]).status_code == 303  # answered from the cache
    assert service.cache_stats()["hits"] == 1
    response = post_upload(client, [photo])
    assert response.status_code == 429 and str(escape(messages.UPLOAD_QUOTA.format(limit=2))) in response.text
    assert service.cache_stats()["hits"] == 1
    assert len(db.session.scalars(select(Identification)).all()) == 2


def test_limited_requests_say_how_many_are_left(app, client, ready, monkeypatch):
    import time
    monkeypatch.setitem(app.config, "IDENTIFY_ANON_RATE_LIMIT", "3 per minute")
    left = []
    for _ in range(3):
        response = post_upload(client, [images.jpeg()])
        assert response.status_code == 303 and response.headers["X-RateLimit-Limit"] == "3"
        assert time.time() < float(response.headers["X-RateLimit-Reset"]) <= time.time() + 61
        left.append(int(response.headers["X-RateLimit-Remaining"]))
    assert left == [2, 1, 0]
    refused = post_upload(client, [images.jpeg()])
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["Retry-After"]) <= 61


@pytest.mark.parametrize(("limit", "wait", "at_least"), [("1 per day", r"about 2[45] hours", 86000),
                                                          ("1 per hour", r"in 6[01] minutes", 3500),
                                                          ("1 per minute", r"wait \d\d? seconds?", 1)])
def test_a_rate_limit_says_how_long_to_wait_in_words(app, client, ready, monkeypatch, limit, wait, at_least):
    # A daily limit used to say "Please wait 85663 seconds".
    import re
    monkeypatch.setitem(app.config, "IDENTIFY_ANON_RATE_LIMIT", limit)
    assert post_upload(client, [images.jpeg()]).status_code == 303
    refused = post_upload(client, [images.jpeg()])
    assert refused.status_code == 429 and re.search(wait, refused.text)
    assert int(refused.headers["Retry-After"]) >= at_least
