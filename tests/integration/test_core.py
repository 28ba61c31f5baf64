"""Health, readiness, metrics, request ids, security headers and error pages."""
import json
import logging
import subprocess
import sys

import fakeredis
import pytest
import redis
from markupsafe import escape

from app.core import messages
from app.extensions import db
from app.accounts.models import User
from tests.conftest import csrf_token


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_ok_when_database_and_redis_reachable(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_names_redis_when_unreachable_then_recovers(app, client):
    original = app.extensions["redis"]
    app.extensions["redis"] = dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        down = client.get("/readyz")
    finally:
        app.extensions["redis"] = original
        dead.close()
    assert down.status_code == 503
    assert down.json["down"] == ["redis"]
    assert down.json["checks"]["database"] == "ok"
    assert down.headers["Retry-After"]
    assert client.get("/readyz").status_code == 200


def test_request_id_kept_when_well_formed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc12345-trace"})
    assert response.headers["X-Request-ID"] == "abc12345-trace"


@pytest.mark.parametrize("bad", ["short", "x" * 200, "has space in it", "evil;header=1", "<script>alert(1)</script>"])
def test_request_id_replaced_when_malformed(client, bad):
    response = client.get("/healthz", headers={"X-Request-ID": bad})
    assert response.headers["X-Request-ID"] != bad
    assert len(response.headers["X-Request-ID"]) == 32


def test_request_id_appears_in_log_records(client, caplog):
    caplog.set_level(logging.INFO, logger="app")
    # An address of its own: the browser tests' Chromium delivers its CSP reports in delayed batches,
    # which may land now and use up 127.0.0.1's allowance.
    client.post("/csp-report", data=json.dumps({"csp-report": {"blocked-uri": "x"}}),
                headers={"X-Request-ID": "req-id-for-log", "Content-Type": "application/csp-report"},
                environ_base={"REMOTE_ADDR": "192.0.2.10"})
    records = [r for r in caplog.records if getattr(r, "event", None) == "csp_violation"]
    assert len(records) == 1
    assert records[0].request_id == "req-id-for-log"


def test_metrics_count_requests_by_endpoint(client):
    client.get("/healthz")
    body = client.get("/metrics").text
    assert 'verdant_http_requests_total{endpoint="core.healthz",method="GET",status="200"}' in body
    assert "verdant_http_request_duration_seconds_bucket" in body


def test_metrics_report_the_queues_depth(app, client):
    from rq import Queue

    from app.core.jobs import heartbeat
    Queue("slow", connection=app.extensions["redis"]).enqueue(heartbeat)  # waiting: no worker here
    body = client.get("/metrics").text
    assert 'verdant_queue_jobs{queue="slow",state="queued"} 1.0' in body
    assert 'verdant_queue_jobs{queue="fast",state="queued"} 0.0' in body
    assert 'verdant_queue_jobs{queue="fast",state="failed"} 0.0' in body


def test_metrics_answer_only_the_token_holder_when_one_is_set(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "scrape-secret")
    refused = client.get("/metrics")
    assert refused.status_code == 401 and "verdant_http" not in refused.text
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert allowed.status_code == 200 and "verdant_http_requests_total" in allowed.text


def test_csp_has_nonce_and_no_unsafe_inline(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert response.text.count("<script") == response.text.count(f'nonce="{nonce}"')
    assert response.headers["X-Frame-Options"] == "DENY"


def test_csp_lets_a_demo_show_the_fakes_reference_images_and_nothing_else_over_http(make_app):
    from app.providers.fakes import settings_for
    from config import TestingConfig

    def img_src(settings: dict) -> list[str]:
        app = make_app(type("ProvidersConfig", (TestingConfig,), settings))
        csp = app.test_client().get("/healthz").headers["Content-Security-Policy"]
        return next(d for d in csp.split("; ") if d.startswith("img-src")).split()[1:]

    # `flask fake-providers` serves the fakes' images over plain http from 127.0.0.1.
    assert img_src(settings_for("http://127.0.0.1:8799")) == ["'self'", "data:", "blob:", "https:",
                                                              "http://127.0.0.1:8799"]
    # Real keys (or none): https images only.
    real = {**settings_for("http://127.0.0.1:8799"), "PLANTID_API_KEY": "real", "PLANTNET_API_KEY": "real",
            "TREFLE_API_KEY": "real", "OPENAI_API_KEY": "real"}
    assert img_src(real) == img_src({}) == ["'self'", "data:", "blob:", "https:"]


def test_csp_report_accepted_and_logged(client, caplog):
    caplog.set_level(logging.WARNING, logger="app")
    response = client.post("/csp-report", data=json.dumps({"csp-report": {"violated-directive": "script-src"}}),
                           content_type="application/csp-report", environ_base={"REMOTE_ADDR": "192.0.2.11"})
    assert response.status_code == 204
    assert any(getattr(r, "event", None) == "csp_violation" for r in caplog.records)


@pytest.mark.parametrize("body, status", [(b"{not json", 400), (b"x" * 20_000, 413), (b"42", 400)])
def test_csp_report_refuses_bad_bodies(client, body, status):
    assert client.post("/csp-report", data=body, content_type="application/json",
                       environ_base={"REMOTE_ADDR": "192.0.2.12"}).status_code == status


def test_unknown_route_gets_real_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert escape(messages.NOT_FOUND) in response.text
    assert "<html" in response.text


def test_unknown_route_as_json_for_api_clients(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json["error"]["message"] == messages.NOT_FOUND
    assert response.json["error"]["request_id"] == response.headers["X-Request-ID"]


def test_wrong_method_gets_405_with_allow(client):
    response = client.delete("/accounts/login")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert escape(messages.METHOD_NOT_ALLOWED) in response.text


def test_oversized_body_gets_friendly_413(app, client):
    response = client.post("/accounts/login", data={"email": "a" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert escape(messages.BODY_TOO_LARGE) in response.text


def test_htmx_error_is_a_fragment(client):
    response = client.get("/no/such/page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert "<html" not in response.text
    assert escape(messages.NOT_FOUND) in response.text


def test_missing_csrf_token_is_400_with_message_and_nothing_stored(client, app_ctx, caplog):
    caplog.set_level(logging.WARNING, logger="app")
    response = client.post("/accounts/register", data={
        "email": "x@example.com", "display_name": "X", "password": "a-long-enough-pass-1",
        "confirm": "a-long-enough-pass-1"})
    assert response.status_code == 400
    assert escape(messages.CSRF_FAILED) in response.text
    assert db.session.query(User).count() == 0
    assert [r.outcome for r in caplog.records if getattr(r, "event", None) == "csrf_failed"] == ["refused"]


def test_wrong_csrf_token_is_400(client, app_ctx):
    response = client.post("/accounts/register", data={"csrf_token": "forged", "email": "x@example.com"})
    assert response.status_code == 400
    assert escape(messages.CSRF_FAILED) in response.text


def test_csrf_header_accepted_for_htmx_requests(client, users):
    page = client.get("/accounts/login")
    token = csrf_token(page.text)
    response = client.post("/accounts/login", data={"email": "alice@example.com", "password": "wrong"},
                           headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 422  # reached the form, past CSRF


def test_nul_byte_in_form_is_400_and_nothing_stored(plain_client, app_ctx):
    response = plain_client.post("/accounts/register", data={
        "email": "nul@example.com", "display_name": "Bad\x00Name",
        "password": "a-long-enough-pass-1", "confirm": "a-long-enough-pass-1"})
    assert response.status_code == 400
    assert db.session.query(User).count() == 0


def test_invalid_utf8_in_form_is_400(plain_client, app_ctx):
    response = plain_client.post("/accounts/login", data=b"email=%ff%fe&password=x",
                                 content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_fragment_responses_vary_on_hx_request(client):
    response = client.get("/accounts/login", headers={"HX-Request": "true"})
    assert "HX-Request" in response.headers["Vary"]


def test_home_page_invites_to_identify_and_join(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "What's that plant?" in response.text
    assert 'href="/accounts/register"' in response.text


def test_production_refuses_to_start_without_secret_key():
    env = {"VERDANT_ENV": "production", "DATABASE_URL": "sqlite://", "REDIS_URL": "redis://127.0.0.1:1/0",
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_names_every_missing_variable():
    env = {"VERDANT_ENV": "production", "SECRET_KEY": "s", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr and "REDIS_URL" in result.stderr
    assert "SECRET_KEY" not in result.stderr.split("Missing")[-1]


def test_embedded_default_uses_in_process_redis_without_url(monkeypatch, make_app):
    from config import DevelopmentConfig
    monkeypatch.setattr(DevelopmentConfig, "REDIS_URL", None)
    app = make_app(DevelopmentConfig)
    assert isinstance(app.extensions["redis"], fakeredis.FakeRedis)
    assert app.config["EMBEDDED_WORKER"] is True


def test_anonymous_home_sets_no_session_cookie(client):
    response = client.get("/")
    assert "Set-Cookie" not in response.headers
    assert "hx-headers" not in response.text


def test_signed_in_pages_carry_csrf_token_for_htmx(client, auth, users):
    auth.login()
    page = client.get("/").text
    token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    response = client.post("/accounts/profile", data={"display_name": "Alice H"},
                           headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 303


def test_behind_proxy_client_address_and_https_come_from_headers(make_app, caplog):
    from config import TestingConfig
    app = make_app(type("ProxiedConfig", (TestingConfig,), {"PROXY_COUNT": 1}))
    with app.app_context():
        from app.extensions import db
        db.create_all()
    caplog.set_level(logging.WARNING, logger="app")
    response = app.test_client().post(
        "/accounts/login", data={"email": "x@example.com", "password": "y"},
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert response.status_code == 400  # no CSRF token: refused, and logged with the real client
    assert "Strict-Transport-Security" in response.headers
    assert [r.ip for r in caplog.records if getattr(r, "event", None) == "csrf_failed"] == ["203.0.113.9"]


def test_home_for_visitors_is_rendered_once_then_cached_with_fresh_nonces(app, client):
    from jinja2 import ChoiceLoader, DictLoader
    calls = []
    original = app.jinja_env.loader
    app.jinja_env.loader = ChoiceLoader([DictLoader({"core/_test_section.html": "<p>section {{ 6 * 7 }}</p>"}),
                                         original])
    app.extensions["home_sections"].append(("core/_test_section.html", lambda: calls.append(1) or {}))
    try:
        first = client.get("/")
        second = app.test_client().get("/")
    finally:
        app.extensions["home_sections"].pop()
        app.jinja_env.loader = original
    assert "section 42" in first.text and "section 42" in second.text
    assert calls == [1]
    for response in (first, second):
        nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
        assert response.text.count(f'nonce="{nonce}"') == response.text.count("<script") > 0
    assert first.headers["Content-Security-Policy"] != second.headers["Content-Security-Policy"]


def test_cached_login_page_gives_each_visitor_a_working_token(app, users):
    from tests.conftest import AuthActions
    app.test_client().get("/accounts/login")  # fills the cache
    for _ in range(2):
        visitor = app.test_client()
        assert AuthActions(visitor).login().status_code == 303


def test_real_redis_client_waits_for_a_capped_blocking_pool():
    import redis

    from app.core.redis import connect_redis
    client = connect_redis("redis://127.0.0.1:6379/8", max_connections=150, pool_timeout=3)
    pool = client.connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.max_connections == 150 and pool.timeout == 3


def test_in_process_redis_is_kept_without_a_url():
    import fakeredis

    from app.core.redis import connect_redis
    client = connect_redis(None, max_connections=5)
    assert isinstance(client, fakeredis.FakeRedis)
    client.set("k", "v")
    assert client.get("k") == b"v"
