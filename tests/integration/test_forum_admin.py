"""Forum in the admin panel, home page, navigation and site search."""
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.forum import service
from app.forum.models import ModAction
from app.search.base import search_sources
from tests.conftest import csrf_token
from tests.forum_helpers import category, make_thread, req  # noqa: F401


@pytest.fixture
def reported(users, category, req, make_user):
    thread = make_thread(category, users["alice"])
    post = service.add_reply(thread, users["bob"], "Suspicious offer")
    for _ in range(3):
        service.report_post(post, make_user())
    return post


@pytest.mark.parametrize("path", ["/admin/admin_forum_queue/", "/admin/admin_forum_categories/",
                                  "/admin/admin_forum_threads/", "/admin/admin_forum_posts/",
                                  "/admin/admin_forum_reports/", "/admin/admin_forum_log/"])
def test_admin_forum_views_open_for_admin(client, auth, reported, path):
    auth.login("admin@example.com")
    assert client.get(path).status_code == 200


def test_admin_forum_views_refuse_members(client, auth, users):
    auth.login("bob@example.com")
    assert client.get("/admin/admin_forum_queue/").status_code == 403


def test_queue_lists_reported_post(client, auth, reported):
    auth.login("admin@example.com")
    page = client.get("/admin/admin_forum_queue/")
    assert "Suspicious offer" in page.text and "3 report(s)" in page.text


def test_queue_decision_restores_and_logs(client, auth, reported, users):
    auth.login("admin@example.com")
    token = csrf_token(client.get("/admin/admin_forum_queue/").text)
    response = client.post(f"/admin/admin_forum_queue/{reported.id}",
                           data={"csrf_token": token, "decision": "restore", "reason": "fine"})
    assert response.status_code == 303
    db.session.refresh(reported)
    assert not reported.hidden and reported.reviewed_at is not None
    action = db.session.scalar(select(ModAction))
    assert (action.action, action.reason, action.moderator_id) == ("restore", "fine", users["admin"].id)
    assert service.moderation_queue() == []


def test_admin_delete_of_a_post_is_the_forums_own_logged_delete(client, auth, reported, users):
    from app.forum.models import Post
    auth.login("admin@example.com")
    token = csrf_token(client.get("/admin/admin_forum_posts/").text)
    response = client.post("/admin/admin_forum_posts/delete/", data={"id": str(reported.id), "csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    post = db.session.get(Post, reported.id)
    assert post is not None and post.deleted
    action = db.session.scalar(select(ModAction).where(ModAction.action == "delete"))
    assert (action.target_id, action.moderator_id) == (reported.id, users["admin"].id)
    # Deleting it again says so, and changes nothing.
    again = client.post("/admin/admin_forum_posts/delete/", data={"id": str(reported.id), "csrf_token": token})
    assert again.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(ModAction).where(ModAction.action == "delete")) == 1


def test_queue_decision_without_csrf_is_refused(client, auth, reported):
    auth.login("admin@example.com")
    response = client.post(f"/admin/admin_forum_queue/{reported.id}", data={"decision": "restore"})
    assert response.status_code == 400
    db.session.refresh(reported)
    assert reported.hidden


def test_home_shows_active_threads(client, users, category, req):
    make_thread(category, users["alice"], title="Seed swap this spring")
    page = client.get("/")
    assert "Active threads" in page.text and "Seed swap this spring" in page.text


def test_nav_links_to_forum(client, app_ctx):
    assert 'href="/forum/"' in client.get("/").text


def test_search_source_finds_threads_with_marked_snippet(app, users, category, req):
    make_thread(category, users["alice"], title="Aphids on roses", body="Green aphids everywhere")
    source = next(s for s in search_sources() if s.kind == "thread")
    hits, total = source.search("aphids", 10, 0)
    assert total == 1 and hits[0].title == "Aphids on roses"
    assert "<mark>aphids</mark>" in hits[0].snippet


def test_search_source_escapes_snippets(app, users, category, req):
    make_thread(category, users["alice"], title="Odd", body="<b>aphids</b> & <script>x</script>")
    source = next(s for s in search_sources() if s.kind == "thread")
    hits, _ = source.search("aphids", 10, 0)
    assert "<script>" not in hits[0].snippet and "<b>" not in hits[0].snippet


def test_seed_categories_is_idempotent(app_ctx):
    service.seed_categories()
    assert service.seed_categories() == "0 forum categories created"


def test_admin_thread_edit_page_opens(client, auth, reported):
    auth.login("admin@example.com")
    response = client.get(f"/admin/admin_forum_threads/edit/?id={reported.thread_id}")
    assert response.status_code == 200 and "Yellow leaves" in response.text
