"""The blog's Flask-Admin views: admins list and filter posts and manage categories, tags and series."""
import pytest

from app.blog.models import Category
from app.extensions import db
from tests.factories import make_post


@pytest.fixture
def admin_client(client, auth, users):
    auth.login("admin@example.com")
    return client


def test_admin_lists_posts_filtered_by_status(admin_client, users):
    make_post(users["admin"], title="Live post")
    make_post(users["admin"], title="Draft post", status="draft")
    page = admin_client.get("/admin/admin_posts/?flt0_0=draft")
    assert page.status_code == 200
    assert "Draft post" in page.text and "Live post" not in page.text


@pytest.mark.parametrize("path", ["/admin/admin_posts/", "/admin/admin_blog_categories/",
                                  "/admin/admin_blog_tags/", "/admin/admin_blog_series/"])
def test_blog_admin_views_open_for_admins(admin_client, path):
    assert admin_client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/admin/admin_posts/", "/admin/admin_blog_categories/"])
def test_blog_admin_views_refuse_editors(client, auth, make_user, path):
    make_user(email="ed@example.com", role="editor")
    auth.login("ed@example.com")
    assert client.get(path).status_code == 403


def test_admin_creates_category(admin_client):
    from tests.conftest import csrf_token
    form = admin_client.get("/admin/admin_blog_categories/new/")
    response = admin_client.post("/admin/admin_blog_categories/new/",
                                 data={"name": "Care", "slug": "care", "description": "",
                                       "csrf_token": csrf_token(form.text)})
    assert response.status_code == 302
    assert db.session.query(Category).one().slug == "care"


def test_admin_category_slug_is_made_from_name_when_empty(admin_client):
    from tests.conftest import csrf_token
    form = admin_client.get("/admin/admin_blog_categories/new/")
    admin_client.post("/admin/admin_blog_categories/new/",
                      data={"name": "Pests & Diseases", "slug": "", "description": "",
                            "csrf_token": csrf_token(form.text)})
    assert db.session.query(Category).one().slug == "pests-diseases"


def test_admin_cannot_delete_posts_outside_the_editor(admin_client, users):
    post = make_post(users["admin"])
    from tests.conftest import csrf_token
    page = admin_client.get("/")
    response = admin_client.post("/admin/admin_posts/delete/",
                                 data={"id": str(post.id), "csrf_token": csrf_token(page.text)})
    assert response.status_code in (302, 404)
    assert db.session.get(type(post), post.id) is not None
