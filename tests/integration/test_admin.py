"""The admin panel: admins only, CSRF-protected, user management."""
import pytest

from app.accounts.models import User
from app.extensions import db
from tests.conftest import csrf_token


def test_admin_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login?next=/admin/")


@pytest.mark.parametrize("path", ["/admin/", "/admin/admin_users/", "/admin/admin_users/edit/?id=x"])
def test_admin_forbids_members(client, auth, users, path):
    auth.login()
    assert client.get(path).status_code == 403


def test_admin_dashboard_for_admins(client, auth, users):
    auth.login("admin@example.com")
    response = client.get("/admin/")
    assert response.status_code == 200
    assert 'data-count="Users">3<' in response.text


def test_admin_users_view_searches_and_filters(client, auth, users):
    auth.login("admin@example.com")
    listing = client.get("/admin/admin_users/?search=bob")
    assert listing.status_code == 200
    assert "bob@example.com" in listing.text and "alice@example.com" not in listing.text


def test_admin_changes_role_with_csrf(client, auth, users):
    auth.login("admin@example.com")
    bob = users["bob"]
    url = f"/admin/admin_users/edit/?id={bob.id}"
    form = client.get(url)
    assert form.status_code == 200
    response = client.post(url, data={"display_name": "Bob", "role": "moderator", "active": "y",
                                      "csrf_token": csrf_token(form.text)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, bob.id).role == "moderator"


def test_admin_edit_without_csrf_changes_nothing(client, auth, users):
    auth.login("admin@example.com")
    bob = users["bob"]
    response = client.post(f"/admin/admin_users/edit/?id={bob.id}",
                           data={"display_name": "Bob", "role": "admin", "active": "y"})
    assert response.status_code in (200, 400)
    db.session.expire_all()
    assert db.session.get(User, bob.id).role == "member"


def test_admin_deactivate_action_signs_user_out(app, client, auth, users):
    from tests.conftest import AuthActions
    bob_client = app.test_client()
    AuthActions(bob_client).login("bob@example.com")
    auth.login("admin@example.com")
    listing = client.get("/admin/admin_users/")
    response = client.post("/admin/admin_users/action/", data={
        "action": "deactivate", "rowid": [str(users["bob"].id)], "csrf_token": csrf_token(listing.text)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, users["bob"].id).active is False
    assert bob_client.get("/accounts/profile").status_code == 302


def test_admin_cannot_demote_self(client, auth, users):
    auth.login("admin@example.com")
    me = users["admin"]
    url = f"/admin/admin_users/edit/?id={me.id}"
    form = client.get(url)
    client.post(url, data={"display_name": "Ada", "role": "member", "active": "y",
                           "csrf_token": csrf_token(form.text)})
    db.session.expire_all()
    assert db.session.get(User, me.id).role == "admin"
