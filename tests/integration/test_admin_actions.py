"""Admin list actions and pages under the CSP: bulk delete works, and no page needs inline script."""
import re

from flask_admin.model import BaseModelView
from sqlalchemy import select

from app.extensions import db
from app.identify.models import Identification
from tests import factories
from tests.conftest import csrf_token

INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)


def _identifications(n: int) -> list:
    rows = [Identification(status="completed", cache_key=f"key-{i}") for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _remaining(ids) -> set:
    db.session.expire_all()
    return set(db.session.scalars(select(Identification.id).where(Identification.id.in_(ids))))


def _bulk(client, action, rowids, view="admin_identifications"):
    listing = client.get(f"/admin/{view}/")
    return client.post(f"/admin/{view}/action/", data={
        "action": action, "rowid": [str(r) for r in rowids], "csrf_token": csrf_token(listing.text)})


def test_admin_bulk_delete_removes_the_selected_rows(client, auth, users):
    first, second, kept = _identifications(3)
    auth.login("admin@example.com")

    response = _bulk(client, "delete", [first, second])

    assert response.status_code == 302
    assert _remaining([first, second, kept]) == {kept}
    assert "2 records were successfully deleted." in client.get(response.headers["Location"]).text


def test_admin_bulk_delete_with_ids_that_are_not_uuids_deletes_nothing(client, auth, users):
    ids = _identifications(2)
    auth.login("admin@example.com")

    response = _bulk(client, "delete", ["not-a-uuid", "42"])

    assert response.status_code == 302
    assert _remaining(ids) == set(ids)


def test_admin_bulk_delete_is_refused_where_delete_is_off(client, auth, users):
    auth.login("admin@example.com")
    response = _bulk(client, "delete", [users["bob"].id], view="admin_users")

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(users["bob"]), users["bob"].id) is not None


def _admin_pages(app) -> list[str]:
    """Every admin view's page, plus the create and edit forms of model views that have them."""
    species = factories.make_species("Monstera deliciosa", common_names=["Swiss cheese plant"])
    pages = []
    with app.test_request_context():
        from flask import url_for
        for admin in app.extensions["admin"]:
            for view in admin._views:
                pages.append(url_for(f"{view.endpoint}.{view._default_view}"))
                if isinstance(view, BaseModelView) and view.can_create:
                    pages.append(url_for(f"{view.endpoint}.create_view"))
        pages.append(url_for("admin_species.edit_view", id=species.id))
        pages.append(url_for("admin_species.details_view", id=species.id))
    return pages


def test_admin_pages_have_no_inline_handlers_and_nonce_every_script(app, client, auth, users):
    auth.login("admin@example.com")
    pages = _admin_pages(app)
    assert len(pages) > 15

    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
        assert INLINE_HANDLER.search(response.text) is None, (path, INLINE_HANDLER.search(response.text))
        for tag in SCRIPT_TAG.findall(response.text):
            assert f'nonce="{nonce}"' in tag, (path, tag)
        assert "/static/js/admin.js" in response.text, path


def test_admin_deletes_carry_their_confirmation(client, auth, users):
    ident_id, = _identifications(1)
    auth.login("admin@example.com")
    page = client.get("/admin/admin_identifications/").text

    row_form = page.split(f'name="id" type="hidden" value="{ident_id}"')[0].rsplit("<form", 1)[1]
    assert 'data-confirm="Are you sure you want to delete this record?"' in row_form
    assert 'data-admin-action="delete"' in page
    assert 'data-confirm="Are you sure you want to delete selected records?"' in page
    assert 'data-none-selected="Please select at least one record."' in page
