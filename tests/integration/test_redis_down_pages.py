"""While Redis is down: a signed-in user gets a styled 503 or the page signed out, never a bare 500; an
upload is refused with QUEUE_DOWN and nothing is stored."""
import contextlib
import logging

import pytest
import redis
from markupsafe import escape
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.exc import OperationalError

from app.accounts import service as accounts
from app.core import messages
from app.identify import service as identify
from tests import image_factory as images
from tests.identify_helpers import page_token, post_upload, snapshot


@contextlib.contextmanager
def redis_down(app):
    """Make Redis unreachable for the app: its client points at a closed port (no retries, so no test
    waits), and the in-process server, which the limiter, cache and queues share, refuses too."""
    original = app.extensions["redis"]
    server = original.connection_pool.connection_kwargs.get("server")  # fakeredis only
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    app.extensions["redis"] = dead
    if server is not None:
        server.connected = False
    try:
        yield
    finally:
        if server is not None:
            server.connected = True
        app.extensions["redis"] = original
        dead.close()


def _revocation_warnings(caplog):
    return [r for r in caplog.records
            if getattr(r, "event", None) == "dependency_down" and r.name == "app.accounts.views"]


def test_page_needing_redis_is_a_styled_503_when_redis_down_for_signed_in_user(app, client, auth, users):
    auth.login()
    with redis_down(app):
        response = client.get("/")  # the home page's sections come from Redis
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "<html" in response.text and "Temporarily unavailable" in response.text
    assert str(escape(messages.SERVICE_DOWN)) in response.text
    assert "Internal Server Error" not in response.text


def test_error_fragment_is_a_503_when_redis_down_for_signed_in_user(app, client, auth, users):
    auth.login()
    with redis_down(app):
        response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "<html" not in response.text
    assert str(escape(messages.SERVICE_DOWN)) in response.text


def test_page_not_needing_redis_is_shown_signed_out_when_redis_down(app, client, auth, users):
    auth.login()
    with redis_down(app):
        response = client.get("/identify")
    assert response.status_code == 200
    assert "Sign in" in response.text and "Alice" not in response.text


def test_revocation_unchecked_means_signed_out_for_that_request(app, client, auth, users):
    # Not "valid until Redis is back": a session that cannot be checked opens no account page.
    auth.login()
    with redis_down(app):
        response = client.get("/accounts/profile")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login")


@pytest.mark.parametrize("remember", [False, True], ids=["session", "remember-me"])
def test_user_still_signed_in_once_redis_is_back(app, client, auth, users, remember):
    auth.login(remember=remember)
    with redis_down(app):
        assert client.get("/identify").status_code == 200
        assert client.get("/").status_code == 503
    response = client.get("/accounts/profile")
    assert response.status_code == 200
    assert "Alice" in response.text and "Sign out" in response.text


@pytest.mark.parametrize("remember", [False, True], ids=["session", "remember-me"])
def test_unchecked_revocation_logged_once_per_request(app, client, auth, users, caplog, remember):
    # With a remember-me cookie Flask-Login asks the user loader twice in one request.
    auth.login(remember=remember)
    caplog.set_level(logging.INFO, logger="app")
    with redis_down(app):
        client.get("/identify")
        assert len(_revocation_warnings(caplog)) == 1
        client.get("/identify")
    warnings = _revocation_warnings(caplog)
    assert len(warnings) == 2
    assert all(r.levelno == logging.WARNING and r.outcome == "signed_out" for r in warnings)
    assert all(r.dependency == "redis" for r in warnings)


def test_error_page_drawn_signed_out_when_loading_the_user_fails(app, client, auth, users, monkeypatch):
    # The database is down: loading the user fails, and the error page must not ask again and fail too.
    auth.login()

    def database_down(token):
        raise OperationalError("SELECT user", {}, ConnectionRefusedError("database down"))

    monkeypatch.setattr(accounts, "load_session_user", database_down)
    response = client.get("/identify")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert str(escape(messages.DB_DOWN)) in response.text
    assert "Sign in" in response.text and "Alice" not in response.text


@pytest.fixture
def ready(app_ctx, fake_providers):
    return fake_providers


def _retries_in_a_minute(response) -> bool:
    # Flask-Limiter rewrites Retry-After from its own clock, so 60 may arrive as 59.
    return 59 <= int(response.headers["Retry-After"]) <= 60


def _upload_while_redis_down(app, client, **kwargs):
    token = page_token(client)  # the form is fetched while Redis is up
    with redis_down(app):
        return post_upload(client, [images.jpeg(color=(200, 10, 10))], token=token, **kwargs)


def test_upload_without_script_gets_its_form_back_with_queue_down_when_redis_down(app, client, ready):
    before = snapshot(app)
    response = _upload_while_redis_down(app, client, organ="leaf")
    assert response.status_code == 503 and _retries_in_a_minute(response)
    assert str(escape(messages.QUEUE_DOWN)) in response.text
    assert 'name="photo"' in response.text  # the upload form, to send again
    assert snapshot(app) == before
    assert ready.hits("plantid") == 0 and ready.hits("plantnet") == 0


@pytest.mark.parametrize("headers", [{"HX-Request": "true"}, {"Accept": "application/json"}], ids=["htmx", "json"])
def test_upload_by_script_gets_queue_down_when_redis_down(app, client, ready, headers):
    before = snapshot(app)
    response = _upload_while_redis_down(app, client, headers=headers)
    assert response.status_code == 503 and _retries_in_a_minute(response)
    if "Accept" in headers:
        assert response.json["error"]["message"] == messages.QUEUE_DOWN
    else:
        assert "<html" not in response.text and str(escape(messages.QUEUE_DOWN)) in response.text
    assert snapshot(app) == before


def test_upload_by_signed_in_user_gets_queue_down_when_redis_down(app, client, auth, users, ready):
    auth.login()
    before = snapshot(app)
    response = _upload_while_redis_down(app, client)
    assert response.status_code == 503
    assert str(escape(messages.QUEUE_DOWN)) in response.text
    assert snapshot(app) == before


def test_upload_gets_queue_down_when_only_the_quota_check_fails(app, client, ready, monkeypatch, caplog):
    # The daily quota is Redis's first write for an upload; its failure escaped as "something went wrong".
    post_upload(client, [images.jpeg()])  # a photo seen before: its answer comes from the cache
    before = snapshot(app)

    def refuse(*args, **kwargs):
        raise redis.exceptions.ConnectionError("redis down")

    monkeypatch.setattr(identify, "take_quota", refuse)
    caplog.set_level(logging.INFO, logger="app")
    for photo in (images.jpeg(), images.jpeg(color=(10, 10, 200))):  # known bytes, then new ones
        response = post_upload(client, [photo])
        assert response.status_code == 503 and _retries_in_a_minute(response)
        assert str(escape(messages.QUEUE_DOWN)) in response.text
    assert snapshot(app) == before
    assert ready.hits("plantid") == 1
    down = [r for r in caplog.records if getattr(r, "event", None) == "dependency_down"]
    assert len(down) == 2 and all(r.levelno == logging.WARNING and r.outcome == "refused" for r in down)


def test_upload_without_script_gets_its_form_back_when_the_queue_refuses(app, client, ready, monkeypatch):
    post_upload(client, [images.jpeg()])  # today's quota key exists: the refused upload gives its unit back
    before = snapshot(app)

    def refuse(*args, **kwargs):
        raise redis.exceptions.ConnectionError("queue down")

    monkeypatch.setattr(app.extensions["queues"]["fast"], "enqueue", refuse)
    response = post_upload(client, [images.jpeg(color=(200, 10, 10))])  # new to the cache: a job is needed
    assert response.status_code == 503 and _retries_in_a_minute(response)
    assert str(escape(messages.QUEUE_DOWN)) in response.text and 'name="photo"' in response.text
    assert snapshot(app) == before
