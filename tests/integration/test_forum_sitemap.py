"""Forum threads in /sitemap.xml: public threads listed with their last activity, others left out."""
import xml.etree.ElementTree as ET

from app.extensions import db
from app.forum import service
from app.forum.models import Category
from tests.forum_helpers import category, make_thread, req  # noqa: F401

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def _entries(client) -> dict:
    root = ET.fromstring(client.get("/sitemap.xml").data)
    return {url.findtext(f"{SITEMAP}loc"): url.findtext(f"{SITEMAP}lastmod") for url in root.iter(f"{SITEMAP}url")}


def test_sitemap_lists_public_threads(client, users, category, req):
    thread = make_thread(category, users["alice"])
    entries = _entries(client)
    assert f"http://localhost/forum/threads/{thread.id}" in entries


def test_sitemap_thread_carries_last_activity(client, users, category, req):
    thread = make_thread(category, users["alice"])
    lastmod = _entries(client)[f"http://localhost/forum/threads/{thread.id}"]
    assert lastmod and lastmod.startswith(thread.last_post_at.date().isoformat())


def test_sitemap_leaves_out_hidden_threads(client, users, category, req):
    thread = make_thread(category, users["alice"])
    thread.hidden = True
    db.session.commit()
    assert not any(str(thread.id) in loc for loc in _entries(client))


def test_sitemap_leaves_out_staff_only_threads(client, users, make_user, req):
    staff = Category(slug="staff", name="Staff room", min_role="moderator")
    db.session.add(staff)
    db.session.commit()
    thread = service.create_thread(staff, make_user(role="moderator"), "Rota", "Who's on?")
    assert not any(str(thread.id) in loc for loc in _entries(client))


def test_forum_sitemap_entries_take_one_query(app, users, category, req):
    from tests.forum_helpers import QueryCounter
    for n in range(5):
        make_thread(category, users["alice"], title=f"Thread number {n}")
    with QueryCounter(db.engine) as counter:
        entries = service.sitemap_entries()
    assert len(entries) == 5 and counter.count == 1
