"""Feeds, sitemap and robots.txt: valid XML, right content types, absolute URLs, cache invalidation."""
import xml.etree.ElementTree as ET

import pytest

from app.blog import service
from app.blog.models import Category
from app.extensions import db
from tests.factories import make_post, make_user

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def editor(app_ctx):
    return make_user(role="editor")


@pytest.fixture
def posts(editor):
    care = Category(name="Care", slug="care")
    db.session.add(care)
    db.session.commit()
    with_image = make_post(editor, title="Ferns & <friends>", summary="Moist & shady.",
                           body="See ![leaf](/blog/images/x \"A leaf\") and [more](/blog) [^1]\n\n"
                                "[^1]: Footnote.", category_ids=[care.id])
    plain = make_post(editor, title="Cacti")
    make_post(editor, title="Hidden draft", status="draft")
    return {"care": care, "fern": with_image, "cactus": plain}


def test_rss_feed_is_valid_rss_with_absolute_urls(client, posts):
    response = client.get("/blog/rss.xml")
    assert response.status_code == 200
    assert response.content_type == "application/rss+xml; charset=utf-8"
    root = ET.fromstring(response.data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    items = root.findall("channel/item")
    assert [i.findtext("title") for i in items] == ["Cacti", "Ferns & <friends>"]
    fern = items[1]
    assert fern.findtext("link") == f"http://localhost/blog/{posts['fern'].slug}"
    assert fern.findtext("category") == "Care"
    content = fern.findtext(CONTENT)
    assert 'src="http://localhost/blog/images/x"' in content
    assert 'href="http://localhost/blog"' in content
    assert 'href="/' not in content and 'src="/' not in content
    assert f'href="http://localhost/blog/{posts["fern"].slug}#fn-' in content
    assert fern.findtext("pubDate").endswith("+0000")


def test_atom_feed_is_valid_atom_with_absolute_urls(client, posts):
    response = client.get("/blog/atom.xml")
    assert response.content_type == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(response.data)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 2
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == "http://localhost/blog/atom.xml"
    fern = entries[1]
    assert fern.find(f"{ATOM}link").get("href").startswith("http://localhost/blog/")
    assert fern.findtext(f"{ATOM}published").endswith("Z")
    assert 'src="http://localhost/blog/images/x"' in fern.findtext(f"{ATOM}content")


def test_feed_content_is_sanitised(client, editor):
    make_post(editor, title="Evil", body="<script>alert(1)</script>[x](javascript:alert(1))")
    content = ET.fromstring(client.get("/blog/rss.xml").data).find("channel/item").findtext(CONTENT)
    assert "<script" not in content and "&lt;script&gt;" in content
    assert "<a " not in content and 'href="javascript' not in content


def test_category_feed_carries_only_that_category(client, posts):
    root = ET.fromstring(client.get("/blog/category/care/rss.xml").data)
    assert [i.findtext("title") for i in root.findall("channel/item")] == ["Ferns & <friends>"]
    atom = ET.fromstring(client.get("/blog/category/care/atom.xml").data)
    assert len(atom.findall(f"{ATOM}entry")) == 1


def test_feed_of_unknown_category_is_404(client, app_ctx):
    assert client.get("/blog/category/nope/rss.xml").status_code == 404


def test_empty_feed_is_still_valid(client, app_ctx):
    root = ET.fromstring(client.get("/blog/atom.xml").data)
    assert root.findall(f"{ATOM}entry") == [] and root.findtext(f"{ATOM}updated")


def test_feed_is_cached_and_refreshed_when_a_post_is_published(client, posts, editor):
    assert len(ET.fromstring(client.get("/blog/rss.xml").data).findall("channel/item")) == 2
    draft = make_post(editor, title="Fresh", status="draft")
    assert len(ET.fromstring(client.get("/blog/rss.xml").data).findall("channel/item")) == 2
    with client.application.test_request_context():
        service.publish_post(draft)
    titles = [i.findtext("title") for i in
              ET.fromstring(client.get("/blog/rss.xml").data).findall("channel/item")]
    assert titles[0] == "Fresh"


def test_sitemap_lists_published_posts_and_registered_sources(client, posts, monkeypatch):
    app = client.application
    monkeypatch.setitem(app.extensions, "sitemap_sources",
                        [lambda: [("http://localhost/forum/threads/1", None)]])
    response = client.get("/sitemap.xml")
    assert response.content_type == "application/xml; charset=utf-8"
    locs = [e.text for e in ET.fromstring(response.data).iter(f"{SITEMAP}loc")]
    assert f"http://localhost/blog/{posts['fern'].slug}" in locs
    assert "http://localhost/blog/cacti" in locs
    assert "http://localhost/forum/threads/1" in locs
    assert not any("hidden-draft" in loc for loc in locs)


def test_sitemap_lists_species_pages(client, app_ctx):
    from app.species.service import get_or_create_species
    get_or_create_species("Monstera deliciosa")
    body = client.get("/sitemap.xml").data
    locs = [e.text for e in ET.fromstring(body).iter(f"{SITEMAP}loc")]
    assert "http://localhost/species/monstera-deliciosa" in locs


def test_robots_txt_points_to_sitemap_and_hides_editor(client, app_ctx):
    response = client.get("/robots.txt")
    assert response.content_type == "text/plain; charset=utf-8"
    assert "Sitemap: http://localhost/sitemap.xml" in response.text
    assert "Disallow: /blog/manage" in response.text
