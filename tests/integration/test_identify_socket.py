"""The progress WebSocket: checked before the upgrade, relays events as fragments, across processes."""
import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta

import pytest
import requests
from rq import Queue
from simple_websocket import ConnectionClosed
from sqlalchemy import select, update

from app.core import messages
from app.core.models import utcnow
from app.extensions import db
from app.identify import service, views
from app.identify.models import Identification
from tests import image_factory as images
from tests.conftest import worker_env
from tests.identify_helpers import encode_multipart
from tests.socket_client import SocketClient


def _upload(base, session, photo):
    html = session.get(f"{base}/identify", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    body, content_type = encode_multipart([("photo", "p.jpg", photo), ("csrf_token", None, token.encode())])
    response = session.post(f"{base}/identify", data=body, headers={"Content-Type": content_type},
                            allow_redirects=False, timeout=30)
    assert response.status_code == 303, response.text
    return response.headers["Location"].rsplit("/", 1)[1]


def _cookie(session):
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def _ws_url(base, ident_id):
    return base.replace("http://", "ws://") + f"/identifications/{ident_id}/ws"


def _connect(base, session, ident_id):
    """Open the identification's socket as its owner's browser on this site would."""
    return SocketClient.connect(_ws_url(base, ident_id), headers={"Cookie": _cookie(session), "Origin": base})


def _handshake(base, ident_id, *, cookie="", origin=None):
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Cookie": cookie}
    if origin is not None:
        headers["Origin"] = origin
    return requests.get(f"{base}/identifications/{ident_id}/ws", headers=headers, timeout=10, stream=True)


def _close(ws):
    try:
        ws.close()
    except (ConnectionClosed, OSError):  # the server may have closed the socket first
        pass


def _receive_until_final(ws, seconds=15):
    messages = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            message = ws.receive(timeout=0.5)
        except ConnectionClosed:
            break
        if message:
            messages.append(message)
            if re.search(r'data-status="(completed|partial|failed)"', message):
                break
    return messages


@pytest.fixture
def ready(app_ctx, fake_providers):
    return fake_providers


def test_socket_relays_progress_until_completed(app, live_server, ready):
    # Pl@ntNet answers a second late, so the relay sees the job running before it completes.
    ready.set_mode("plantnet", "ok", delay=1.0)
    session = requests.Session()
    ident_id = _upload(live_server, session, images.jpeg(color=(70, 20, 70)))
    ident = db.session.get(Identification, uuid.UUID(ident_id))
    ident.status = "queued"
    db.session.commit()
    app.extensions["redis"].delete(service.CACHE_PREFIX + ident.cache_key)
    ws = _connect(live_server, session, ident_id)
    try:
        first = ws.receive(timeout=5)
        assert 'data-status="queued"' in first and 'hx-swap-oob="true"' in first
        runner = threading.Thread(target=lambda: _run_in_context(app, ident_id))
        runner.start()
        messages = _receive_until_final(ws)
        runner.join(timeout=30)
    finally:
        _close(ws)
    assert any('data-status="running"' in message for message in messages[:-1])
    assert 'data-status="completed"' in messages[-1]
    assert ident.suggestions[0].scientific_name in messages[-1]


def _queued_upload(app, live_server, session):
    ident_id = _upload(live_server, session, images.jpeg(color=(90, 40, 10)))
    ident = db.session.get(Identification, uuid.UUID(ident_id))
    ident.status = "queued"
    db.session.commit()
    return ident_id


def _open_queued(app, live_server, *, without_steps=False):
    """Upload as a new visitor, mark it queued and open its socket; return its id and the socket, whose
    first frame (the queued state) has been read. without_steps forgets the steps the upload's job ran."""
    session = requests.Session()
    ident_id = _queued_upload(app, live_server, session)
    if without_steps:
        app.extensions["redis"].delete(service.PROGRESS_PREFIX + ident_id)
    ws = _connect(live_server, session, ident_id)
    try:
        assert 'data-status="queued"' in ws.receive(timeout=5)
    except BaseException:
        _close(ws)
        raise
    return ident_id, ws


def test_socket_draws_steps_from_events_and_reads_the_row_for_the_end(app, live_server, ready):
    ident_id, ws = _open_queued(app, live_server, without_steps=True)
    try:
        # The row still says queued: a step under way is drawn from its event and Redis alone.
        service.publish_event(ident_id, "calling", "plantid")
        step = ws.receive(timeout=5)
        assert 'data-status="running"' in step and "Plant.id: asking…" in step and "Pl@ntNet: waiting" in step
        service.publish_event(ident_id, "failed", "plantnet")
        step = ws.receive(timeout=5)
        assert "Pl@ntNet: did not answer" in step and 'data-status="running"' in step
        # The end is read from the row.
        ident = db.session.get(Identification, uuid.UUID(ident_id))
        ident.status, ident.error = "failed", "Both services are down."
        db.session.commit()
        service.publish_event(ident_id, "failed")
        end = ws.receive(timeout=5)
    finally:
        _close(ws)
    assert 'data-status="failed"' in end and "Both services are down." in end and "Retry" in end


def test_socket_draws_the_end_from_the_event_that_carries_it(app, live_server, ready):
    ident_id, ws = _open_queued(app, live_server)
    try:
        # The row still says queued: what the socket shows comes from the event alone.
        service.publish_event(ident_id, "completed", final={
            "status": "completed", "error": None, "partial": False, "providers": ["plantid"],
            "result": [{"scientific_name": "Eventia carriedii", "common_names": ["Carried fern"]}],
            "suggestions": [{"rank": 1, "scientific_name": "Eventia carriedii", "confidence": 0.87,
                             "providers": ["plantid"], "species_id": None, "care_text": None}]})
        end = ws.receive(timeout=5)
    finally:
        _close(ws)
    assert 'data-status="completed"' in end and "Eventia carriedii" in end and "Carried fern" in end
    assert "87%" in end
    assert db.session.get(Identification, uuid.UUID(ident_id)).status == "queued"


def test_socket_checks_the_row_between_events_and_redraws_only_what_changed(app, live_server, ready, monkeypatch):
    monkeypatch.setitem(app.config, "IDENTIFY_SOCKET_CHECK_SECONDS", 0.2)
    ident_id, ws = _open_queued(app, live_server, without_steps=True)
    try:
        # Several checks find nothing new: nothing is sent.
        assert ws.receive(timeout=1.5) is None
        # A step recorded without its event (lost) is drawn by the next check...
        app.extensions["redis"].hset(service.PROGRESS_PREFIX + ident_id, "plantid", "calling")
        step = ws.receive(timeout=5)
        assert 'data-status="queued"' in step and "Plant.id: asking…" in step
        # ...and so is an end that only the row knows.
        ident = db.session.get(Identification, uuid.UUID(ident_id))
        ident.status, ident.error = "failed", "Both services are down."
        db.session.commit()
        end = ws.receive(timeout=5)
    finally:
        _close(ws)
    assert 'data-status="failed"' in end and "Both services are down." in end


def test_sockets_opened_together_check_their_rows_at_spread_out_times(app, live_server, ready, monkeypatch):
    # Each socket's first check falls at its own point of the period, then one period after the last.
    monkeypatch.setitem(app.config, "IDENTIFY_SOCKET_CHECK_SECONDS", 1.5)
    monkeypatch.setattr(views, "SOCKET_WAKE_SECONDS", 0.1)
    delays = iter([0.2, 1.0])
    monkeypatch.setattr(views, "_first_check_delay", lambda every: next(delays))
    checks = []
    real_changed = service.progress_changed

    def recording(ident_id, mark):
        checks.append((str(ident_id), time.monotonic()))
        return real_changed(ident_id, mark)

    monkeypatch.setattr(service, "progress_changed", recording)
    first_id, first = _open_queued(app, live_server)
    second_id, second = _open_queued(app, live_server)
    opened = time.monotonic()
    try:
        time.sleep(2.2)
    finally:
        _close(first)
        _close(second)
    at = {ident: [round(moment - opened, 1) for i, moment in checks if i == ident] for ident in (first_id, second_id)}
    # The first socket opened a little before `opened`, so its times are a little early.
    assert len(at[first_id]) == 2 and at[first_id][0] < 0.4 and 1.4 <= at[first_id][1] - at[first_id][0] <= 1.9
    assert len(at[second_id]) == 1 and 0.9 <= at[second_id][0] <= 1.4


def test_socket_check_sweeps_an_identification_whose_worker_died(app, live_server, ready, monkeypatch):
    monkeypatch.setitem(app.config, "IDENTIFY_SOCKET_CHECK_SECONDS", 0.2)
    ident_id, ws = _open_queued(app, live_server)
    try:
        stale = utcnow() - timedelta(seconds=app.config["IDENTIFY_STUCK_SECONDS"] + 60)
        db.session.execute(update(Identification).where(Identification.id == uuid.UUID(ident_id))
                           .values(updated_at=stale))
        db.session.commit()
        end = ws.receive(timeout=5)
    finally:
        _close(ws)
    assert 'data-status="failed"' in end and messages.IDENTIFY_STUCK in end
    db.session.expire_all()
    assert db.session.get(Identification, uuid.UUID(ident_id)).status == "failed"


def test_only_steps_of_an_identification_under_way_are_drawn_from_events(app_ctx):
    ident_id = uuid.uuid4()
    assert service.from_event(ident_id, '{"event": "calling", "provider": "plantid"}').status == "running"
    assert service.from_event(ident_id, b'{"event": "failed", "provider": "plantnet"}').status == "running"
    assert service.from_event(ident_id, '{"event": "queued", "provider": null}').status == "queued"
    for final_or_unreadable in ('{"event": "completed"}', '{"event": "failed", "provider": null}',
                                '{"event": "x"}', "{}", "[]", "not json", None,
                                # an end this version cannot read: the row is read instead
                                '{"event": "completed", "final": {"status": "running", "error": null}}',
                                '{"event": "completed", "final": {"error": null}}',
                                ('{"event": "completed", "final": {"status": "completed", "error": null,'
                                 ' "suggestions": [{"rank": 1}]}}')):
        assert service.from_event(ident_id, final_or_unreadable) is None


def _rerun_for_its_last_event(app, ident):
    """Run an identification's job again (its cache entry gone) and return its last event's data."""
    ident.status = "queued"
    db.session.commit()
    app.extensions["redis"].delete(service.CACHE_PREFIX + ident.cache_key)
    pubsub = app.extensions["redis"].pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(service.channel(ident.id))
    try:
        service.run_identification(ident.id)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.1)
            event = json.loads(message["data"]) if message else {}
            if event.get("event") in ("completed", "failed") and event["provider"] is None:
                return message["data"]
    finally:
        pubsub.close()
    raise AssertionError("no last event")


@pytest.mark.parametrize("down, shown", [
    ((), "both services agree"),
    (("plantnet",), "Pl@ntNet had a problem on its side"),
    (("plantid", "plantnet"), "Retry"),
])
def test_the_end_an_event_carries_draws_what_the_row_draws(app, client, ready, down, shown):
    from app.identify import views
    from app.species.models import Species
    from tests.identify_helpers import post_upload
    post_upload(client, [images.jpeg(color=(12, 80, 40))])
    ident = db.session.scalars(select(Identification)).one()
    top = db.session.get(Species, ident.suggestions[0].species_id)
    top.care_text = {"overview": "Bright, indirect light.", "watering": "When the top soil is dry."}
    db.session.commit()
    for provider in down:
        ready.set_mode(provider, "500")
    data = _rerun_for_its_last_event(app, ident)
    with app.test_request_context():
        from_event = views._socket_fragment(service.from_event(ident.id, data))
        from_row = views._socket_fragment(service.get_visible(ident.id, None, ident.session_key, current=True))
    assert from_event == from_row
    assert shown in from_event and 'hx-swap-oob="true"' in from_event
    if not down:
        assert ident.suggestions[0].scientific_name in from_event and "Bright, indirect light." in from_event


def test_the_end_an_event_carries_draws_care_notes_being_written_as_the_row_does(app, client, ready, monkeypatch):
    from rq import Queue

    from app.identify import views
    from tests.identify_helpers import post_upload
    redis = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "queues", {n: Queue(n, connection=redis) for n in ("fast", "slow")})
    post_upload(client, [images.jpeg(color=(90, 12, 40))])
    ident = db.session.scalars(select(Identification)).one()
    data = _rerun_for_its_last_event(app, ident)
    with app.test_request_context():
        from_event = views._socket_fragment(service.from_event(ident.id, data))
        from_row = views._socket_fragment(service.get_visible(ident.id, None, ident.session_key, current=True))
    assert from_event == from_row
    assert "being written" in from_event and f"/identifications/{ident.id}/care" in from_event


def test_socket_state_replaces_polling_with_a_fetch_on_close(app, live_server, ready):
    session = requests.Session()
    ident_id = _queued_upload(app, live_server, session)
    ws = _connect(live_server, session, ident_id)
    try:
        first = ws.receive(timeout=5)
    finally:
        _close(ws)
    assert 'data-status="queued"' in first
    assert "every 1s" not in first
    assert 'hx-trigger="htmx:wsClose from:closest [ws-connect]"' in first


def test_progress_page_polls_until_the_socket_answers(app, live_server, ready):
    session = requests.Session()
    ident_id = _queued_upload(app, live_server, session)
    page = session.get(f"{live_server}/identifications/{ident_id}", timeout=10).text
    assert 'hx-trigger="every 1s"' in page and "ws-connect=" in page


def _run_in_context(app, ident_id):
    with app.app_context():
        service.run_identification(ident_id)
        db.session.remove()


def test_socket_of_someone_elses_identification_is_403_without_upgrade(live_server, ready):
    ident_id = _upload(live_server, requests.Session(), images.jpeg())
    response = _handshake(live_server, ident_id, origin=live_server)
    assert response.status_code == 403
    assert "Upgrade" not in response.headers.get("Connection", "")


def test_socket_from_another_origin_is_403(live_server, ready):
    session = requests.Session()
    ident_id = _upload(live_server, session, images.jpeg())
    response = _handshake(live_server, ident_id, cookie=_cookie(session), origin="https://evil.example")
    assert response.status_code == 403


def test_socket_without_origin_is_403(live_server, ready):
    session = requests.Session()
    ident_id = _upload(live_server, session, images.jpeg())
    assert _handshake(live_server, ident_id, cookie=_cookie(session)).status_code == 403


def test_socket_of_owner_upgrades(live_server, ready):
    session = requests.Session()
    ident_id = _upload(live_server, session, images.jpeg())
    ws = _connect(live_server, session, ident_id)
    try:
        assert 'data-status="completed"' in ws.receive(timeout=5)
    finally:
        _close(ws)


def test_sockets_share_the_relay_and_leave_it_when_closed(app, live_server, ready, monkeypatch):
    monkeypatch.setattr(views, "SOCKET_WAKE_SECONDS", 0.1)
    relay = app.extensions["identify_relay"]
    session = requests.Session()
    ident_id = _queued_upload(app, live_server, session)
    channel = service.channel(ident_id)
    sockets = [_connect(live_server, session, ident_id) for _ in range(3)]
    try:
        for ws in sockets:
            assert 'data-status="queued"' in ws.receive(timeout=5)
        assert relay.listeners(channel) == 3
    finally:
        for ws in sockets:
            _close(ws)
    # The browser went away: each socket's loop notices within a wake and stops listening.
    deadline = time.monotonic() + 5
    while relay.listeners(channel) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert relay.listeners(channel) == 0


def test_socket_ends_when_its_identification_is_deleted(app, live_server, ready):
    ident_id, ws = _open_queued(app, live_server)
    try:
        db.session.delete(db.session.get(Identification, uuid.UUID(ident_id)))
        db.session.commit()
        # An end that does not carry the row makes the socket read it: gone, so the socket closes.
        service.publish_event(ident_id, "completed")
        with pytest.raises(ConnectionClosed):
            for _ in range(20):
                ws.receive(timeout=0.5)
    finally:
        _close(ws)


@pytest.mark.integration
def test_socket_sees_a_job_run_by_a_worker_process(app, live_server, ready, monkeypatch):
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("needs TEST_REDIS_URL (real Redis); CI sets it")
    redis = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "queues", {name: Queue(name, connection=redis) for name in ("fast", "slow")})
    env = worker_env(app, url, MEDIA_ROOT=app.config["MEDIA_ROOT"], **ready.settings)
    ready.set_mode("plantid", "ok", delay=2.0)
    worker = subprocess.Popen([sys.executable, "worker.py"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        session = requests.Session()
        ident_id = _upload(live_server, session, images.jpeg(color=(12, 160, 90)))
        ws = _connect(live_server, session, ident_id)
        try:
            messages = _receive_until_final(ws, seconds=30)
        finally:
            _close(ws)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=20)[0]
    assert messages and 'data-status="completed"' in messages[-1], output[-2000:]
    assert len(messages) >= 2  # at least one event arrived through Redis before the final state
    db.session.expire_all()
    assert db.session.scalars(select(Identification)).one().status == "completed"


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split what a server sent after its 101 into (opcode, payload) frames; fail on bytes that are none."""
    frames, at = [], 0
    while at < len(data):
        assert len(data) - at >= 2, data[at:]
        opcode, length, at = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
        assert data[at - 1] & 0x80 == 0, f"not a server frame: {data[at - 2:at + 40]!r}"
        if length in (126, 127):
            size = 2 if length == 126 else 8
            length, at = int.from_bytes(data[at:at + size], "big"), at + size
        frames.append((opcode, data[at:at + length]))
        at += length
        assert at <= len(data), "a frame cut short"
    return frames


def test_the_development_server_ends_a_socket_with_its_close_frame_alone(live_server, ready):
    # `flask run` (the README's first command) serves with Werkzeug, like live_server. flask-sock 0.7.0
    # let Werkzeug write an HTTP 200 after the close frame: browsers saw a broken socket (1006) and the
    # page's ws extension reconnected for ever, redrawing the result each time.
    import socket
    session = requests.Session()
    ident_id = _upload(live_server, session, images.jpeg(color=(20, 90, 60)))  # final at once: inline job
    host, port = live_server.removeprefix("http://").split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /identifications/{ident_id}/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
               f"Origin: {live_server}\r\nCookie: {_cookie(session)}\r\n\r\n")
    received = b""
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(request.encode())
        while chunk := raw.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    frames = _frames(rest)
    assert [opcode for opcode, _ in frames] == [0x1, 0x8]
    assert 'data-status="completed"' in frames[0][1].decode()
    assert int.from_bytes(frames[1][1][:2], "big") == 1000
