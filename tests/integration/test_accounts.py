"""Registration, sign-in, throttling, sessions and the profile page."""
import logging
import threading

import pytest
from markupsafe import escape

from app.accounts.models import User
from app.core import messages
from app.extensions import db
from tests.conftest import csrf_token
from tests.factories import PASSWORD


def register(client, **over):
    page = client.get("/accounts/register")
    data = {"email": "new@example.com", "display_name": "New Gardener", "password": PASSWORD,
            "confirm": PASSWORD, "csrf_token": csrf_token(page.text)}
    data.update(over)
    return client.post("/accounts/register", data=data)


def test_register_creates_account_and_signs_in(client, app_ctx):
    response = register(client)
    assert response.status_code == 303
    user = db.session.query(User).one()
    assert user.email == "new@example.com" and user.role == "member"
    assert user.password_hash.startswith("$argon2id$")
    assert "New Gardener" in client.get("/accounts/profile").text


def test_register_email_is_case_insensitive_unique(client, users):
    response = register(client, email="ALICE@Example.com")
    assert response.status_code == 422
    assert "already exists" in response.text
    assert db.session.query(User).count() == 3


@pytest.mark.parametrize("password, message", [
    ("short-pw", messages.PW_TOO_SHORT),
    ("x" * 129 + "Aa1", messages.PW_TOO_LONG),
    ("password1234", messages.PW_COMMON),
    ("qwertyuiopasdf", messages.PW_COMMON),
    ("aaaaaaaaaaaaaaaa", messages.PW_COMMON),
    ("123456789012", messages.PW_COMMON),
    ("newgardener-99", messages.PW_SIMILAR),
    ("maplehill@2026", messages.PW_SIMILAR),
])
def test_register_rejects_weak_password_with_message(client, app_ctx, password, message):
    response = register(client, email="maplehill@example.com", password=password, confirm=password)
    assert response.status_code == 422
    assert escape(message) in response.text
    assert db.session.query(User).count() == 0


@pytest.mark.parametrize("field, value", [("email", "not-an-email"), ("display_name", ""),
                                          ("confirm", "something-else-entirely")])
def test_register_invalid_form_is_422_and_nothing_stored(client, app_ctx, field, value):
    response = register(client, **{field: value})
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.text
    assert db.session.query(User).count() == 0


def test_login_then_profile(client, auth, users):
    response = auth.login()
    assert response.status_code == 303
    page = client.get("/accounts/profile")
    assert page.status_code == 200
    assert "alice@example.com" in page.text


def test_login_wrong_password_is_422_with_message(client, auth, users, caplog):
    caplog.set_level(logging.INFO, logger="app")
    response = auth.login(password="not-the-password")
    assert response.status_code == 422
    assert escape(messages.LOGIN_FAILED) in response.text
    events = [r for r in caplog.records if getattr(r, "event", None) == "login"]
    assert [(e.outcome, e.user_id) for e in events] == [("failure", str(users["alice"].id))]
    assert events[0].request_id and events[0].ip == "127.0.0.1"


def test_login_unknown_email_gives_same_message(client, auth, app_ctx):
    response = auth.login(email="nobody@example.com")
    assert response.status_code == 422
    assert escape(messages.LOGIN_FAILED) in response.text


def test_login_throttled_after_five_failures(client, auth, users, caplog):
    for _ in range(5):
        assert auth.login(password="wrong-password").status_code == 422
    caplog.set_level(logging.INFO, logger="app")
    response = auth.login()  # even the right password waits
    assert response.status_code == 429
    assert escape(messages.LOGIN_LOCKED.format(wait="1 minute")) in response.text
    assert int(response.headers["Retry-After"]) <= 60
    assert client.get("/accounts/profile").status_code == 302


def test_login_throttle_is_per_account_across_ips(app, users):
    for n in range(5):
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = f"10.0.0.{n}"
        from tests.conftest import AuthActions
        AuthActions(c).login(password="wrong-password")
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.1.1"
    from tests.conftest import AuthActions
    assert AuthActions(other).login().status_code == 429


def test_inactive_user_cannot_log_in(client, auth, users):
    users["alice"].active = False
    db.session.commit()
    assert auth.login().status_code == 422


@pytest.mark.parametrize("target, expected", [
    ("/accounts/profile", "/accounts/profile"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
])
def test_login_next_redirect_stays_on_site(client, users, target, expected):
    page = client.get("/accounts/login")
    response = client.post("/accounts/login", query_string={"next": target}, data={
        "email": "alice@example.com", "password": PASSWORD, "csrf_token": csrf_token(page.text)})
    assert response.status_code == 303
    assert response.headers["Location"] == expected


def test_profile_requires_login(client):
    response = client.get("/accounts/profile")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login?next=")


def test_logout_revokes_the_session_cookie(app, client, auth, users):
    auth.login()
    stolen = client.get_cookie("verdant_session").value
    assert auth.logout().status_code == 303
    thief = app.test_client()
    thief.set_cookie("verdant_session", stolen)
    assert thief.get("/accounts/profile").status_code == 302


def test_remember_me_restores_session(app, client, auth, users):
    auth.login(remember=True)
    remember = client.get_cookie("verdant_remember")
    assert remember is not None
    fresh = app.test_client()
    fresh.set_cookie("verdant_remember", remember.value)
    assert fresh.get("/accounts/profile").status_code == 200


def test_password_change_signs_out_other_devices(app, client, auth, users):
    auth.login()
    other = app.test_client()
    from tests.conftest import AuthActions
    AuthActions(other).login()
    page = client.get("/accounts/profile")
    response = client.post("/accounts/password", data={
        "current_password": PASSWORD, "new_password": "a-fresh-new-secret-77",
        "csrf_token": csrf_token(page.text)})
    assert response.status_code == 303
    assert client.get("/accounts/profile").status_code == 200
    assert other.get("/accounts/profile").status_code == 302


def test_password_change_needs_current_password(client, auth, users):
    auth.login()
    page = client.get("/accounts/profile")
    response = client.post("/accounts/password", data={
        "current_password": "wrong", "new_password": "a-fresh-new-secret-77",
        "csrf_token": csrf_token(page.text)})
    assert response.status_code == 422
    assert "current password is incorrect" in response.text


def test_logout_everywhere_revokes_remember_cookies(app, client, auth, users):
    auth.login(remember=True)
    remember = client.get_cookie("verdant_remember").value
    page = client.get("/accounts/profile")
    client.post("/accounts/sessions/revoke", data={"csrf_token": csrf_token(page.text)})
    fresh = app.test_client()
    fresh.set_cookie("verdant_remember", remember)
    assert fresh.get("/accounts/profile").status_code == 302


def test_profile_update_changes_display_name(client, auth, users):
    auth.login()
    page = client.get("/accounts/profile")
    response = client.post("/accounts/profile", data={"display_name": "Alice G.",
                                                      "csrf_token": csrf_token(page.text)})
    assert response.status_code == 303
    db.session.refresh(users["alice"])
    assert users["alice"].display_name == "Alice G."


def test_display_name_is_escaped(client, make_user):
    make_user(email="xss@example.com", display_name='<img src=x onerror=alert(1)>')
    from tests.conftest import AuthActions
    AuthActions(client).login(email="xss@example.com")
    page = client.get("/accounts/profile").text
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_password_hashing_runs_outside_the_calling_thread(app_ctx, monkeypatch):
    # Under gevent the caller's thread is the worker's event loop: argon2's ~0.1 s there would stall
    # every other request and socket of the worker.
    from argon2 import PasswordHasher

    from app.accounts import passwords

    threads = []
    for name in ("hash", "verify"):
        real = getattr(PasswordHasher, name)

        def recording(self, *args, real=real):
            threads.append(threading.get_ident())
            return real(self, *args)

        monkeypatch.setattr(PasswordHasher, name, recording)
    stored = passwords.hash_password(PASSWORD)
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(stored, PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD)
    assert len(threads) >= 4 and threading.get_ident() not in threads


def test_form_pages_hide_passwords_and_write_no_none_attributes(client, auth, users):
    # WTForms wrote type=None as type="None": the browser showed the password in clear as it was typed.
    import re
    for path in ("/accounts/login", "/accounts/register"):
        page = client.get(path).text
        passwords = re.findall(r'<input[^>]*name="(?:password|confirm)"[^>]*>', page)
        assert passwords and all('type="password"' in tag for tag in passwords), passwords
        assert '="None"' not in page
    invalid = register(client, email="not-an-email")
    assert 'aria-invalid="true"' in invalid.text and '="None"' not in invalid.text
    auth.login()
    profile = client.get("/accounts/profile")
    assert profile.status_code == 200 and '="None"' not in profile.text
