"""Reading the blog: visibility, old slugs, lists, related and series posts, caching, registrations."""
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.blog import service
from app.blog.models import Category, Series
from app.core.models import utcnow
from app.extensions import db
from tests.factories import make_post, make_user


@pytest.fixture
def editor(app_ctx):
    return make_user(role="editor", display_name="Erin Editor")


def _category(name="Care") -> Category:
    category = Category(name=name, slug=service.slugify(name), description=f"All about {name}.")
    db.session.add(category)
    db.session.commit()
    return category


def test_published_post_is_public(client, editor):
    post = make_post(editor, title="Hello garden")
    response = client.get(f"/blog/{post.slug}")
    assert response.status_code == 200
    assert "Hello garden" in response.text and "<strong>words</strong>" in response.text


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_unpublished_post_is_404_to_the_public(client, editor, status):
    post = make_post(editor, title="Not yet", status=status)
    response = client.get(f"/blog/{post.slug}")
    assert response.status_code == 404
    missing = client.get("/blog/never-existed").text
    assert _without_nonce(response.text) == _without_nonce(missing)


def _without_nonce(html: str) -> str:
    return re.sub(r'nonce="[^"]+"', "", html)


def test_scheduled_post_is_404_until_published(client, editor):
    post = make_post(editor, status="draft")
    with client.application.test_request_context():
        service.schedule_post(post, utcnow() + timedelta(hours=1))
    assert client.get(f"/blog/{post.slug}").status_code == 404


def test_draft_preview_link_is_forbidden_to_members(client, auth, users, editor):
    post = make_post(editor, status="draft")
    auth.login("alice@example.com")
    assert client.get(f"/blog/manage/posts/{post.id}/preview").status_code == 403


def test_old_slug_redirects_permanently(client, editor):
    post = make_post(editor, title="Old name")
    data = service.PostData.from_post(post)
    data.slug = "new-name"
    with client.application.test_request_context():
        service.save_post(post, data, editor)
    response = client.get("/blog/old-name")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/blog/new-name")


def test_index_lists_newest_first_with_featured_on_top(client, editor):
    old = make_post(editor, title="Old featured", featured=True)
    old.published_at = utcnow() - timedelta(days=3)
    db.session.commit()
    make_post(editor, title="Newer plain")
    service.bump_cache()
    page = client.get("/blog").text
    featured = page.index('id="featured-heading"')
    assert featured < page.index("Old featured") < page.index("Newer plain") \
        < page.rindex("Old featured")


def test_index_paginates_with_htmx_fragment(client, editor):
    for n in range(service.PER_PAGE + 2):
        make_post(editor, title=f"Note {n}")
    response = client.get("/blog?page=2", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text and 'id="post-list"' in response.text
    assert response.text.count('class="post-card') == 2
    assert "HX-Request" in response.headers["Vary"]


def test_index_hides_drafts(client, editor):
    make_post(editor, title="Secret plan", status="draft")
    assert "Secret plan" not in client.get("/blog").text


def test_category_page_lists_only_its_posts(client, editor):
    care = _category()
    make_post(editor, title="In care", category_ids=[care.id])
    make_post(editor, title="Elsewhere")
    page = client.get("/blog/category/care").text
    assert "In care" in page and "Elsewhere" not in page


def test_tag_page_lists_tagged_posts(client, editor):
    make_post(editor, title="Tagged one", tags="ferns")
    make_post(editor, title="Untagged")
    page = client.get("/blog/tag/ferns").text
    assert "Tagged one" in page and "Untagged" not in page


def test_author_page_lists_their_posts(client, editor):
    make_post(editor, title="Mine")
    make_post(make_user(role="editor"), title="Theirs")
    page = client.get(f"/blog/author/{editor.id}").text
    assert "Mine" in page and "Theirs" not in page


def test_author_without_published_posts_is_404(client, users):
    assert client.get(f"/blog/author/{users['alice'].id}").status_code == 404


@pytest.mark.parametrize("path", ["/blog/category/none", "/blog/tag/none", "/blog/series/none",
                                  f"/blog/author/{uuid.uuid4()}"])
def test_unknown_listing_is_404(client, app_ctx, path):
    assert client.get(path).status_code == 404


def test_series_page_and_prev_next_links(client, editor):
    series = Series(title="Basics", slug="basics")
    db.session.add(series)
    db.session.commit()
    first = make_post(editor, title="Part one", series_id=series.id, series_order=1)
    second = make_post(editor, title="Part two", series_id=series.id, series_order=2)
    make_post(editor, title="Part three draft", series_id=series.id, series_order=3,
              status="draft")
    listing = client.get("/blog/series/basics").text
    assert listing.index("Part one") < listing.index("Part two")
    assert "Part three draft" not in listing
    page = client.get(f"/blog/{first.slug}").text
    assert f'rel="next" href="/blog/{second.slug}"' in page and 'rel="prev"' not in page
    page = client.get(f"/blog/{second.slug}").text
    assert f'rel="prev" href="/blog/{first.slug}"' in page and "Part three draft" not in page


def test_related_posts_share_tags(client, editor):
    post = make_post(editor, title="Ferns in winter", tags="ferns, winter")
    make_post(editor, title="Fern spores", tags="ferns")
    make_post(editor, title="Cacti", tags="desert")
    related = service.related_posts(post)
    assert [p.title for p in related] == ["Fern spores"]
    page = client.get(f"/blog/{post.slug}").text
    assert "Related posts" in page and "Fern spores" in page


def test_related_posts_share_species(client, editor):
    from app.species.service import get_or_create_species
    get_or_create_species("Monstera deliciosa")
    post = make_post(editor, title="Monstera care", species="monstera-deliciosa")
    make_post(editor, title="Monstera cuttings", body="[[species:monstera-deliciosa]]")
    assert [p.title for p in service.related_posts(post)] == ["Monstera cuttings"]


def test_post_page_has_opengraph_and_twitter_tags(client, editor):
    post = make_post(editor, title="Shareable", summary="A summary.",
                     seo_description="For search engines.")
    head = client.get(f"/blog/{post.slug}").text.split("</head>")[0]
    assert '<meta property="og:title" content="Shareable">' in head
    assert '<meta property="og:description" content="For search engines.">' in head
    assert f'<meta property="og:url" content="http://localhost/blog/{post.slug}">' in head
    assert '<meta name="twitter:card" content="summary">' in head
    assert '<meta name="description" content="For search engines.">' in head


def test_post_page_embeds_its_forum_thread(client, editor):
    post = make_post(editor)
    page = client.get(f"/blog/{post.slug}").text
    assert 'id="discussion"' in page
    assert client.get(f"/forum/embed/post/{post.id}").status_code == 200


def test_anonymous_post_page_is_cached_until_post_changes(client, editor):
    post = make_post(editor, title="Cached title")
    assert "Cached title" in client.get(f"/blog/{post.slug}").text
    keys = [k.decode() for k in client.application.extensions["redis"].keys("verdant:cache:*")]
    assert any(f"post:{post.slug}" in key for key in keys)
    # A change made behind the service's back is not seen: the page comes from the cache.
    post.title = "Sneaky title"
    db.session.commit()
    assert "Cached title" in client.get(f"/blog/{post.slug}").text
    data = service.PostData.from_post(post)
    data.title = "Edited title"
    with client.application.test_request_context():
        service.save_post(post, data, editor)
    page = client.get(f"/blog/{post.slug}").text
    assert "Edited title" in page and "Cached title" not in page


def test_cached_page_still_gets_a_fresh_nonce_per_response(client, editor):
    post = make_post(editor)
    first = client.get(f"/blog/{post.slug}")
    second = client.application.test_client().get(f"/blog/{post.slug}")
    assert first.headers["Content-Security-Policy"] != second.headers["Content-Security-Policy"]
    for response in (first, second):
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
        assert response.text.count(f'nonce="{nonce}"') == response.text.count("<script") > 0
        assert "<verdant:" not in response.text


def test_cached_page_carries_no_session_token(client, editor):
    post = make_post(editor)
    client.application.test_client().get(f"/blog/{post.slug}")  # fills the cache
    response = client.get(f"/blog/{post.slug}")
    assert "X-CSRFToken" not in response.text  # anonymous pages need none, so none is cached
    assert "Set-Cookie" not in response.headers


def test_visitor_with_flash_message_gets_a_fresh_page(client, editor):
    post = make_post(editor, title="Flashy")
    client.get(f"/blog/{post.slug}")
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "Just for you")]
    assert "Just for you" in client.get(f"/blog/{post.slug}").text
    assert "Just for you" not in client.application.test_client().get(f"/blog/{post.slug}").text


def test_unpublishing_removes_post_from_cached_pages(client, editor):
    post = make_post(editor, title="Going away")
    assert client.get(f"/blog/{post.slug}").status_code == 200
    assert "Going away" in client.get("/blog").text
    with client.application.test_request_context():
        service.unpublish_post(post)
    assert client.get(f"/blog/{post.slug}").status_code == 404
    assert "Going away" not in client.get("/blog").text


def test_signed_in_editor_sees_edit_link_and_fresh_content(client, auth, users, editor):
    post = make_post(editor, title="Editable")
    editor.email = "editor2@example.com"
    db.session.commit()
    auth.login("editor2@example.com")
    page = client.get(f"/blog/{post.slug}").text
    assert f"/blog/manage/posts/{post.id}" in page


def test_post_image_of_draft_is_hidden_from_public(client, editor):
    import io

    from PIL import Image
    post = make_post(editor, status="draft")
    buffer = io.BytesIO()
    Image.new("RGB", (100, 100), "green").save(buffer, format="PNG")
    image = service.add_image(post, buffer, "body")
    assert client.get(f"/blog/images/{image.id}").status_code == 404
    with client.application.test_request_context():
        service.publish_post(post)
    response = client.get(f"/blog/images/{image.id}")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_home_page_shows_latest_posts(client, editor):
    make_post(editor, title="On the home page")
    page = client.get("/").text
    assert "Latest posts" in page and "On the home page" in page


def test_nav_links_to_blog(client, app_ctx):
    assert '<a href="/blog"' in client.get("/").text


def test_search_source_finds_published_posts_only(client, editor):
    from app.search.base import search_sources
    make_post(editor, title="Pruning roses", summary="Cut above an outward bud.")
    make_post(editor, title="Pruning secrets", status="draft")
    source = next(s for s in search_sources() if s.kind == "post")
    with client.application.test_request_context():
        hits, total = source.search("pruning", 10, 0)
    assert total == 1
    assert hits[0].title == "Pruning roses" and hits[0].url == "/blog/pruning-roses"
    assert "<mark>" not in hits[0].title


def test_search_snippet_escapes_text_and_marks_words(client, editor):
    make_post(editor, title="Roses", summary="<b>Roses</b> need sun")
    with client.application.test_request_context():
        hits, _ = service.search_posts("sun", 10, 0)
    assert "Roses&lt;/b&gt; need <mark>sun</mark>" in hits[0].snippet
    assert "<b>" not in hits[0].snippet


def test_search_treats_like_wildcards_literally(client, editor):
    make_post(editor, title="Plain post")
    with client.application.test_request_context():
        assert service.search_posts("%", 10, 0) == ([], 0)


def test_discussable_resolves_published_posts_only(client, editor):
    resolve = client.application.extensions["discussables"]["post"]
    live = make_post(editor, title="Talk about me")
    draft = make_post(editor, status="draft")
    with client.application.test_request_context():
        assert resolve(live.id) == ("Talk about me", f"/blog/{live.slug}")
        assert resolve(draft.id) is None
        assert resolve(uuid.uuid4()) is None


def test_seeders_create_demo_posts_once(app_ctx):
    from app.blog.seed import seed_demo_posts
    from app.blog.models import Post
    assert seed_demo_posts() == "3 demo posts created"
    assert seed_demo_posts() == "0 demo posts created"
    assert len(db.session.scalars(select(Post).where(Post.status == "published")).all()) == 3


def test_blog_index_links_editors_to_the_editor(client, auth, users):
    auth.login("admin@example.com")
    assert 'href="/blog/manage"' in client.get("/blog").text


def test_blog_index_hides_editor_link_from_readers(client, app_ctx):
    assert 'href="/blog/manage"' not in client.get("/blog").text

