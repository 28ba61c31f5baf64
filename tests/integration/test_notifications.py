"""Notifications: the bell, the page, mark read, email preferences, SMTP delivery and unsubscribe."""
import email
import email.policy
import socket
import time
import uuid

import pytest
from aiosmtpd.controller import Controller
from markupsafe import escape
from sqlalchemy import func, select

from app.core import messages
from app.extensions import db
from app.forum import service as forum
from app.notifications import service
from app.notifications.models import Notification, NotificationPreference
from tests.conftest import csrf_token
from tests.forum_helpers import category, make_thread, req  # noqa: F401

HX = {"HX-Request": "true"}


class Sink:
    """Collects the messages a real SMTP server receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = "".join(f"{k}: {v}\n" for k, v in message.items()) + message.get_content()
        self.messages.append((envelope.rcpt_tos, text))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app, monkeypatch):
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    yield sink
    controller.stop()


def _wait_for(sink, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while len(sink.messages) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return sink.messages


def _unread(user):
    return service.unread_count(user)


def test_bell_shows_unread_count(client, auth, users, category, req):
    thread = make_thread(category, users["alice"])
    forum.add_reply(thread, users["bob"], "Hi")
    auth.login("alice@example.com")
    response = client.get("/notifications/bell", headers=HX)
    assert response.status_code == 200 and "<html" not in response.text
    assert 'data-count="1"' in response.text


def test_bell_shows_no_count_when_all_read(client, auth, users):
    auth.login("alice@example.com")
    assert "data-count" not in client.get("/notifications/bell", headers=HX).text


def test_nav_has_bell_for_members_only(client, auth, users):
    assert "notification-bell" not in client.get("/").text
    auth.login("alice@example.com")
    assert 'hx-get="/notifications/bell"' in client.get("/").text


def test_notifications_page_lists_text_escaped(client, auth, users, category, req):
    thread = forum.create_thread(category, users["alice"], "<script>x</script> roses", "body")
    forum.add_reply(thread, users["bob"], "Hi")
    auth.login("alice@example.com")
    page = client.get("/notifications/")
    assert "Bob replied to" in page.text and "<script>x</script>" not in page.text


def test_mark_read_goes_to_post_and_clears_unread(client, auth, users, category, req):
    thread = make_thread(category, users["alice"])
    post = forum.add_reply(thread, users["bob"], "Hi")
    note = db.session.scalar(select(Notification))
    auth.login("alice@example.com")
    token = csrf_token(client.get("/notifications/").text)
    response = client.post(f"/notifications/{note.id}/read", data={"csrf_token": token, "go": "1"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#post-{post.id}")
    assert _unread(users["alice"]) == 0


def test_mark_someone_elses_notification_is_404(client, auth, users, category, req):
    thread = make_thread(category, users["alice"])
    forum.add_reply(thread, users["bob"], "Hi")
    note = db.session.scalar(select(Notification))
    auth.login("bob@example.com")
    token = csrf_token(client.get("/notifications/").text)
    assert client.post(f"/notifications/{note.id}/read", data={"csrf_token": token}).status_code == 404
    assert _unread(users["alice"]) == 1


def test_mark_all_read(client, auth, users, category, req):
    thread = make_thread(category, users["alice"])
    forum.add_reply(thread, users["bob"], "One")
    forum.add_reply(thread, users["bob"], "Two")
    auth.login("alice@example.com")
    token = csrf_token(client.get("/notifications/").text)
    assert client.post("/notifications/read-all", data={"csrf_token": token}).status_code == 303
    assert _unread(users["alice"]) == 0


def test_mark_all_read_without_csrf_is_400(client, auth, users, category, req):
    thread = make_thread(category, users["alice"])
    forum.add_reply(thread, users["bob"], "One")
    auth.login("alice@example.com")
    assert client.post("/notifications/read-all").status_code == 400
    assert _unread(users["alice"]) == 1


def test_email_preference_is_saved(client, auth, users):
    auth.login("alice@example.com")
    token = csrf_token(client.get("/notifications/").text)
    response = client.post("/notifications/email", data={"csrf_token": token, "email_mode": "daily"})
    assert response.status_code == 303 and service.email_mode(users["alice"]) == "daily"


def test_unknown_email_preference_is_422(client, auth, users):
    auth.login("alice@example.com")
    token = csrf_token(client.get("/notifications/").text)
    response = client.post("/notifications/email", data={"csrf_token": token, "email_mode": "hourly"})
    assert response.status_code == 422 and service.email_mode(users["alice"]) == "immediate"


# Email through a real SMTP server


def test_immediate_email_is_sent_through_smtp(smtp, users, category, req):
    thread = make_thread(category, users["alice"])
    forum.add_reply(thread, users["bob"], "Water less")
    received = _wait_for(smtp, 1)
    assert len(received) == 1
    rcpt, content = received[0]
    assert rcpt == ["alice@example.com"]
    assert "Bob replied to" in content and "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in content
    assert "/notifications/unsubscribe/" in content
    assert db.session.scalar(select(Notification.emailed_at)) is not None


def test_email_off_sends_nothing(smtp, users, category, req):
    service.set_email_mode(users["alice"].id, "off")
    thread = make_thread(category, users["alice"])
    forum.add_reply(thread, users["bob"], "Water less")
    time.sleep(0.2)
    assert smtp.messages == []
    assert _unread(users["alice"]) == 1


def test_daily_digest_sends_one_email_with_everything(smtp, users, category, req):
    service.set_email_mode(users["alice"].id, "daily")
    thread = make_thread(category, users["alice"])
    forum.add_reply(thread, users["bob"], "One")
    forum.add_reply(thread, users["bob"], "Two")
    assert smtp.messages == []
    from app.notifications.jobs import send_daily_digests
    assert send_daily_digests() == 1
    received = _wait_for(smtp, 1)
    assert len(received) == 1 and received[0][1].count("Bob replied to") == 2
    assert send_daily_digests() == 0


def test_email_is_logged_without_mail_server(users, category, req, caplog):
    thread = make_thread(category, users["alice"])
    forum.add_reply(thread, users["bob"], "Water less")
    records = [r for r in caplog.records if getattr(r, "event", None) == "email_logged"]
    assert len(records) == 1 and records[0].to == "alice@example.com"


def test_email_job_is_enqueued_on_slow_queue(app, users, category, req, monkeypatch):
    enqueued = []
    monkeypatch.setattr(app.extensions["queues"]["slow"], "enqueue",
                        lambda *a, **k: enqueued.append(a))
    thread = make_thread(category, users["alice"])
    forum.add_reply(thread, users["bob"], "Hi")
    assert enqueued == [("app.notifications.jobs.email_notification",
                         str(db.session.scalar(select(Notification.id))))]


# Unsubscribe


def test_unsubscribe_link_shows_confirmation_without_changing(client, users, app_ctx):
    token = service.unsubscribe_token(users["alice"].id)
    page = client.get(f"/notifications/unsubscribe/{token}")
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert service.email_mode(users["alice"]) == "immediate"


def test_one_click_unsubscribe_turns_email_off(client, users, app_ctx):
    token = service.unsubscribe_token(users["alice"].id)
    response = client.post(f"/notifications/unsubscribe/{token}",
                           data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and str(escape(messages.UNSUBSCRIBED)) in response.text
    assert service.email_mode(users["alice"]) == "off"


def test_forged_unsubscribe_token_is_404(client, users, app_ctx):
    forged = service.unsubscribe_token(users["alice"].id)[:-3] + "abc"
    response = client.post(f"/notifications/unsubscribe/{forged}")
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(NotificationPreference)) == 0


def test_token_for_deleted_user_is_404(client, app_ctx):
    token = service.unsubscribe_token(uuid.uuid4())
    assert client.post(f"/notifications/unsubscribe/{token}").status_code == 404


def test_reply_survives_when_email_queue_is_down(app, users, category, req, monkeypatch, caplog):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down(*args, **kwargs):
        raise RedisConnectionError("queue down")

    monkeypatch.setattr(app.extensions["queues"]["slow"], "enqueue", down)
    thread = make_thread(category, users["alice"])
    post = forum.add_reply(thread, users["bob"], "Still here")
    assert post.id is not None and _unread(users["alice"]) == 1
    assert [r for r in caplog.records if getattr(r, "event", None) == "email_queue_failed"]


def test_digest_command_queues_job(app, monkeypatch):
    enqueued = []
    monkeypatch.setattr(app.extensions["queues"]["slow"], "enqueue",
                        lambda name, *a: enqueued.append(name) or type("J", (), {"id": "j1"})())
    result = app.test_cli_runner().invoke(args=["notifications-digest"])
    assert result.exit_code == 0 and enqueued == ["app.notifications.jobs.send_daily_digests"]


def test_daily_digest_is_on_the_workers_schedule(app):
    from app.notifications.service import DIGEST_EVERY_SECONDS, send_daily_digests
    run, seconds, _ = app.extensions["periodic_jobs"]["notifications-digest"]
    assert run is send_daily_digests and seconds == DIGEST_EVERY_SECONDS == 86400
