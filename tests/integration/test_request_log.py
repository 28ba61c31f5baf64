"""The request log: one record per request, with its id and duration, and none for probes or static files."""
import logging
import re
import time

import pytest
import requests
from simple_websocket import ConnectionClosed

from tests import image_factory as images
from tests.identify_helpers import encode_multipart
from tests.socket_client import SocketClient


@pytest.fixture
def request_records(caplog):
    caplog.set_level(logging.INFO, logger="app.requests")

    def records():
        return [r for r in caplog.records if r.name == "app.requests" and getattr(r, "event", None) == "request"]

    return records


def test_page_request_logs_one_record_with_its_id_and_duration(client, request_records):
    response = client.get("/")
    [record] = request_records()
    assert (record.method, record.path, record.status, record.endpoint) == ("GET", "/", 200, "core.home")
    assert record.levelno == logging.INFO
    assert isinstance(record.duration_ms, float) and record.duration_ms >= 0
    assert record.duration_ms == round(record.duration_ms, 1)
    assert record.request_id and record.request_id == response.headers["X-Request-ID"]


def test_refusals_before_the_view_carry_their_id_and_duration(app, client, request_records, monkeypatch):
    # A rate limit and a CSRF check refuse in hooks of their own, which ran before the id was given.
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    forged = client.post("/accounts/login", data={"email": "a@example.com", "password": "x"})
    monkeypatch.setitem(app.config, "SEARCH_RATE_LIMIT", "1 per minute")
    client.get("/search?q=fern")
    limited = client.get("/search?q=fern")
    assert (forged.status_code, limited.status_code) == (400, 429)
    records = {r.status: r for r in request_records()}
    for response in (forged, limited):
        record = records[response.status_code]
        assert response.headers["X-Request-ID"] and record.request_id == response.headers["X-Request-ID"]
        assert record.duration_ms is not None


def test_unknown_path_logs_its_404(client, request_records):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    [record] = request_records()
    assert (record.path, record.status, record.endpoint) == ("/no/such/page", 404, None)
    assert record.request_id == response.headers["X-Request-ID"]


def test_query_string_stays_out_of_the_logged_path(client, request_records):
    client.get("/search", query_string={"q": "private fern"})
    [record] = request_records()
    assert record.path == "/search"
    assert not any("private" in str(value) for value in vars(record).values())


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/static/css/app.css", "/admin/static/vendor/jquery.min.js"])
def test_probes_scrapes_and_static_files_are_not_logged(client, request_records, path):
    assert client.get(path, buffered=True).status_code == 200
    client.get("/")
    assert [record.path for record in request_records()] == ["/"]


def test_progress_socket_is_logged_once_when_it_ends(app_ctx, live_server, fake_providers, request_records):
    session = requests.Session()
    ident_id = _upload(live_server, session)
    ws = SocketClient.connect(live_server.replace("http://", "ws://") + f"/identifications/{ident_id}/ws",
                              headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in session.cookies),
                                       "Origin": live_server})
    try:
        # While it is open (its first state sent) nothing is logged for it; the identification is
        # complete, so the server then ends the socket.
        assert 'data-status="completed"' in ws.receive(timeout=5)
        deadline = time.monotonic() + 5
        while not _socket_records(request_records) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        try:
            ws.close()
        except (ConnectionClosed, OSError):  # the server has closed it first
            pass
    time.sleep(0.2)  # room for a second record, which must not come
    [record] = _socket_records(request_records)
    assert (record.method, record.status, record.endpoint) == ("GET", 101, "identify.progress_socket")
    assert record.duration_ms >= 0 and record.request_id


def _socket_records(request_records):
    return [record for record in request_records() if record.path.endswith("/ws")]


def _upload(base, session):
    html = session.get(f"{base}/identify", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    body, content_type = encode_multipart([("photo", "p.jpg", images.jpeg()), ("csrf_token", None, token.encode())])
    response = session.post(f"{base}/identify", data=body, headers={"Content-Type": content_type},
                            allow_redirects=False, timeout=30)
    assert response.status_code == 303, response.text
    return response.headers["Location"].rsplit("/", 1)[1]
