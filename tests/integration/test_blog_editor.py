"""The blog editor: permissions, saving, slugs, size limit, XSS, preview, revisions, scheduling, images."""
import io
import re
from html.parser import HTMLParser
from urllib.parse import unquote
from html import unescape
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from app.blog.models import Post, PostImage, PostRevision, PostSlug
from app.core import messages
from app.core.redis import get_queue
from app.core.storage import get_storage
from app.extensions import db
from tests.conftest import csrf_token
from tests.factories import make_post


@pytest.fixture
def editor(users, make_user):
    return make_user(email="erin@example.com", display_name="Erin Editor", role="editor")


@pytest.fixture
def editor_client(client, auth, editor):
    auth.login("erin@example.com")
    return client


def _token(client) -> str:
    return csrf_token(client.get("/blog/manage/new").text)


def _new_post(client, **fields):
    data = {"title": "Repotting a monstera", "body": "Use a **chunky** mix.", "action": "save",
            "csrf_token": _token(client), **fields}
    return client.post("/blog/manage/new", data=data)


def _png(width=400, height=300) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 140, 60)).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _editorial_routes(post_id):
    base = f"/blog/manage/posts/{post_id}"
    return [
        ("GET", "/blog/manage"), ("GET", "/blog/manage/new"), ("POST", "/blog/manage/new"),
        ("GET", base), ("POST", base), ("POST", "/blog/manage/preview"),
        ("GET", f"{base}/preview"), ("POST", f"{base}/publish"), ("POST", f"{base}/schedule"),
        ("POST", f"{base}/unpublish"), ("POST", f"{base}/delete"), ("GET", f"{base}/revisions"),
        ("POST", f"{base}/restore"), ("POST", f"{base}/images"),
    ]


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_editorial_routes_forbid_members(client, auth, users, htmx):
    post = make_post(status="draft")
    auth.login("alice@example.com")
    token = csrf_token(client.get("/").text)
    headers = {"HX-Request": "true", "X-CSRFToken": token} if htmx else {}
    statuses = {}
    for method, path in _editorial_routes(post.id):
        data = {"csrf_token": token, "title": "x", "body": "x"} if method == "POST" else None
        statuses[(method, path)] = client.open(path, method=method, data=data,
                                               headers=headers).status_code
    assert set(statuses.values()) == {403}
    db.session.refresh(post)
    assert post.status == "draft" and post.title != "x"


def test_editorial_routes_send_anonymous_visitors_to_sign_in(client, app_ctx):
    post = make_post(status="draft")
    for method, path in _editorial_routes(post.id):
        response = client.open(path, method=method)
        if method == "POST" and response.status_code == 400:
            continue  # CSRF refuses before the login check, which is just as closed
        assert response.status_code == 302, path
        assert "/accounts/login" in response.headers["Location"]


def test_forbidden_htmx_request_gets_error_fragment(client, auth, users):
    auth.login("alice@example.com")
    response = client.get("/blog/manage", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert "<html" not in response.text and messages.FORBIDDEN in unescape(response.text)


def test_admin_may_use_the_editor(client, auth, users):
    auth.login("admin@example.com")
    assert client.get("/blog/manage").status_code == 200


def test_saving_new_post_stores_rendered_html_and_first_revision(editor_client, editor):
    response = _new_post(editor_client, tags="soil, Repotting", summary="How to repot.")
    assert response.status_code == 303
    post = db.session.scalar(select(Post))
    assert response.headers["Location"].endswith(f"/blog/manage/posts/{post.id}")
    assert post.slug == "repotting-a-monstera"
    assert post.status == "draft" and post.author_id == editor.id
    assert post.body_html == "<p>Use a <strong>chunky</strong> mix.</p>\n"
    assert sorted(t.slug for t in post.tags) == ["repotting", "soil"]
    assert [(r.number, r.note, r.body) for r in post.revisions] == [(1, "Created", post.body)]


def test_every_save_adds_a_revision(editor_client):
    _new_post(editor_client)
    post = db.session.scalar(select(Post))
    editor_client.post(f"/blog/manage/posts/{post.id}",
                       data={"title": post.title, "body": "Second version", "action": "save",
                             "csrf_token": _token(editor_client)})
    numbers = db.session.scalars(select(PostRevision.number).order_by(PostRevision.number))
    assert list(numbers) == [1, 2]


def test_missing_title_is_refused_with_422(editor_client):
    response = _new_post(editor_client, title="")
    assert response.status_code == 422
    assert _count(Post) == 0


def test_slug_clash_gets_clear_message(editor_client):
    make_post(title="Taken")
    response = _new_post(editor_client, title="Another", slug="taken")
    assert response.status_code == 422
    assert messages.BLOG_SLUG_TAKEN in unescape(response.text)
    assert _count(Post) == 1


def test_slug_clash_with_old_slug_of_other_post_is_refused(editor_client, editor):
    post = make_post(title="Original", author=editor)
    editor_client.post(f"/blog/manage/posts/{post.id}",
                       data={"title": "Original", "slug": "renamed", "action": "save",
                             "csrf_token": _token(editor_client)})
    response = _new_post(editor_client, title="Other", slug="original")
    assert response.status_code == 422
    assert messages.BLOG_SLUG_TAKEN in unescape(response.text)


def test_body_over_200_kb_is_refused_with_message(editor_client):
    response = _new_post(editor_client, body="a" * (200 * 1024 + 1))
    assert response.status_code == 413
    assert messages.BLOG_BODY_TOO_LARGE in unescape(response.text)
    assert _count(Post) == 0 and _count(PostRevision) == 0


def test_body_of_exactly_200_kb_is_accepted(editor_client):
    assert _new_post(editor_client, body="a" * (200 * 1024)).status_code == 303


def test_unknown_related_species_is_refused(editor_client):
    response = _new_post(editor_client, species="no-such-plant")
    assert response.status_code == 422
    assert "no-such-plant" in response.text
    assert _count(Post) == 0


XSS_FIELDS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><script>alert(1)</script></svg>",
    "[click](javascript:alert(1))",
    "[click](java&#x09;script:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "![x](javascript:alert(1))",
    '![x"onerror="alert(1)](https://example.com/a.png)',
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="#" onclick="alert(1)" hx-get="/admin" hx-trigger="load">x</a>',
    '<div hx-post="/blog/manage/posts/x/delete" hx-trigger="load">x</div>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<iframe src=javascript:alert(1)></iframe>",
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
]
FORBIDDEN_TAGS = {"script", "svg", "iframe", "math", "style", "object", "embed", "form"}


class _ActiveContent(HTMLParser):
    """Collect every tag, attribute or URL in HTML that could run script."""

    def __init__(self, allow_htmx: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.allow_htmx = allow_htmx

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith(("on", "style")) or (
                    name.startswith(("hx-", "data-hx")) and not self.allow_htmx):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src") and value:
                bare = re.sub(r"[\x00-\x20]+", "", unquote(value)).lower()
                if bare.startswith(("javascript:", "vbscript:", "data:")):
                    self.found.append(f"{tag}[{name}={value}]")


def active_content(html: str, allow_htmx: bool = False) -> list[str]:
    parser = _ActiveContent(allow_htmx)
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("payload", XSS_FIELDS)
def test_xss_payloads_through_editor_are_inert(editor_client, payload):
    response = _new_post(editor_client, title=f"T {payload}"[:200], summary=payload,
                         body=f"Intro\n\n{payload}\n\n**end**", tags=payload[:60],
                         seo_description=payload)
    assert response.status_code == 303
    post = db.session.scalar(select(Post))
    assert active_content(post.body_html) == []
    editor_client.post(f"/blog/manage/posts/{post.id}/publish",
                       data={"csrf_token": _token(editor_client)})
    page = editor_client.get(f"/blog/{post.slug}").text
    prose = page[page.index('<div class="prose" hx-disable>'):page.index('<footer class="post-footer">')]
    assert "<strong>end</strong>" in prose
    assert active_content(prose.removeprefix('<div class="prose" hx-disable>')) == []
    # Outside the post body only our own htmx attributes and our own scripts (each with the
    # response's nonce, loaded from /static) may appear.
    nonce = re.search(r'nonce="([^"]+)"', page).group(1)
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all(f'nonce="{nonce}"' in s and 'src="/static/' in s for s in scripts)
    outside = active_content(page.replace("<script", "<x-script"), allow_htmx=True)
    assert [found for found in outside if found != "form"] == []  # the nav's sign-out form


def test_post_body_container_carries_hx_disable(editor_client):
    post = make_post()
    assert '<div class="prose" hx-disable>' in editor_client.get(f"/blog/{post.slug}").text


def test_live_preview_returns_rendered_fragment(editor_client):
    response = editor_client.post("/blog/manage/preview",
                                  data={"body": "# Hello\n\n<script>x</script>*hi*"},
                                  headers={"HX-Request": "true",
                                           "X-CSRFToken": _token(editor_client)})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "<em>hi</em>" in response.text and "<script" not in response.text
    assert 'hx-disable' in response.text


def test_live_preview_without_csrf_is_refused(editor_client):
    response = editor_client.post("/blog/manage/preview", data={"body": "x"},
                                  headers={"HX-Request": "true"})
    assert response.status_code == 400


def test_live_preview_refuses_huge_body(editor_client):
    response = editor_client.post("/blog/manage/preview", data={"body": "a" * 210_000},
                                  headers={"HX-Request": "true",
                                           "X-CSRFToken": _token(editor_client)})
    assert response.status_code == 413
    assert messages.BLOG_BODY_TOO_LARGE in unescape(response.text)


def test_preview_button_without_javascript_renders_preview_and_saves_nothing(editor_client):
    response = _new_post(editor_client, body="A *preview*", action="preview")
    assert response.status_code == 200
    assert "<em>preview</em>" in response.text
    assert _count(Post) == 0


def test_species_shortcode_renders_card(editor_client, app_ctx):
    from app.species.service import get_or_create_species
    get_or_create_species("Monstera deliciosa", common_names=["Swiss cheese plant"])
    _new_post(editor_client, body="Look: [[species:monstera-deliciosa]] and [[species:nope]]")
    post = db.session.scalar(select(Post))
    assert '<div class="species-card">' in post.body_html
    assert "Swiss cheese plant" in post.body_html
    assert "[[species:nope]]" in post.body_html
    assert [s.slug for s in post.species] == ["monstera-deliciosa"]


def test_changing_slug_of_published_post_keeps_old_slug(editor_client, editor):
    post = make_post(title="First name", author=editor)
    editor_client.post(f"/blog/manage/posts/{post.id}",
                       data={"title": "First name", "slug": "second-name", "action": "save",
                             "csrf_token": _token(editor_client)})
    assert db.session.scalar(select(PostSlug.slug)) == "first-name"
    db.session.refresh(post)
    assert post.slug == "second-name"


def test_slug_stays_when_title_changes(editor_client, editor):
    post = make_post(title="Stable", author=editor)
    editor_client.post(f"/blog/manage/posts/{post.id}",
                       data={"title": "A new title", "action": "save",
                             "csrf_token": _token(editor_client)})
    db.session.refresh(post)
    assert post.slug == "stable" and post.title == "A new title"


def test_diff_between_revisions_shows_changed_lines(editor_client, editor):
    post = make_post(author=editor, body="line one\nline two")
    editor_client.post(f"/blog/manage/posts/{post.id}",
                       data={"title": post.title, "body": "line one\nline 2 <b>", "action": "save",
                             "csrf_token": _token(editor_client)})
    response = editor_client.get(f"/blog/manage/posts/{post.id}/revisions?a=1&b=2",
                                 headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.text
    assert '<span class="diff-del">-line two</span>' in response.text
    assert '<span class="diff-add">+line 2 &lt;b&gt;</span>' in response.text


def test_diff_of_missing_revision_is_404(editor_client):
    post = make_post()
    assert editor_client.get(f"/blog/manage/posts/{post.id}/revisions?a=1&b=9").status_code == 404


def test_restore_copies_old_revision_into_new_one(editor_client, editor):
    post = make_post(author=editor, body="original text")
    editor_client.post(f"/blog/manage/posts/{post.id}",
                       data={"title": post.title, "body": "changed text", "action": "save",
                             "csrf_token": _token(editor_client)})
    response = editor_client.post(f"/blog/manage/posts/{post.id}/restore",
                                  data={"number": "1", "csrf_token": _token(editor_client)})
    assert response.status_code == 303
    db.session.refresh(post)
    assert post.body == "original text"
    assert post.body_html == "<p>original text</p>\n"
    latest = post.revisions[0]
    assert (latest.number, latest.note) == (3, "Restored revision 1")


def test_publish_makes_post_public(editor_client, client):
    post = make_post(status="draft")
    editor_client.post(f"/blog/manage/posts/{post.id}/publish",
                       data={"csrf_token": _token(editor_client)})
    db.session.refresh(post)
    assert post.status == "published" and post.published_at is not None


def test_scheduling_in_the_past_publishes_now(editor_client):
    post = make_post(status="draft")
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = editor_client.post(f"/blog/manage/posts/{post.id}/schedule",
                                  data={"publish_at": past, "csrf_token": _token(editor_client)})
    assert response.status_code == 303
    db.session.refresh(post)
    assert post.status == "published"
    assert ScheduledJobRegistry(queue=get_queue("slow")).get_job_ids() == []


def test_scheduling_in_the_future_enqueues_job_at_that_time(editor_client):
    post = make_post(status="draft")
    when = (datetime.now(timezone.utc) + timedelta(days=1)).replace(second=0, microsecond=0)
    editor_client.post(f"/blog/manage/posts/{post.id}/schedule",
                       data={"publish_at": when.strftime("%Y-%m-%dT%H:%M"),
                             "csrf_token": _token(editor_client)})
    db.session.refresh(post)
    registry = ScheduledJobRegistry(queue=get_queue("slow"))
    assert post.status == "scheduled"
    assert registry.get_job_ids() == [post.scheduled_job_id]
    assert registry.get_scheduled_time(post.scheduled_job_id) == when


def test_rescheduling_replaces_the_job(editor_client):
    post = make_post(status="draft")
    for days in (1, 2):
        when = datetime.now(timezone.utc) + timedelta(days=days)
        editor_client.post(f"/blog/manage/posts/{post.id}/schedule",
                           data={"publish_at": when.strftime("%Y-%m-%dT%H:%M"),
                                 "csrf_token": _token(editor_client)})
    db.session.refresh(post)
    assert ScheduledJobRegistry(queue=get_queue("slow")).get_job_ids() == [post.scheduled_job_id]


def test_scheduling_without_a_time_is_refused(editor_client):
    post = make_post(status="draft")
    response = editor_client.post(f"/blog/manage/posts/{post.id}/schedule",
                                  data={"publish_at": "", "csrf_token": _token(editor_client)})
    assert response.status_code == 422
    assert messages.BLOG_SCHEDULE_MISSING in unescape(response.text)
    db.session.refresh(post)
    assert post.status == "draft"


def test_archive_hides_post(editor_client, client):
    post = make_post()
    editor_client.post(f"/blog/manage/posts/{post.id}/unpublish",
                       data={"to": "archived", "csrf_token": _token(editor_client)})
    db.session.refresh(post)
    assert post.status == "archived"


def test_delete_removes_post_revisions_and_images(editor_client, editor):
    post = make_post(author=editor)
    editor_client.post(f"/blog/manage/posts/{post.id}/images",
                       data={"image": (_png(), "leaf.png"), "csrf_token": _token(editor_client)})
    key = db.session.scalar(select(PostImage.key))
    editor_client.post(f"/blog/manage/posts/{post.id}/delete",
                       data={"csrf_token": _token(editor_client)})
    assert _count(Post) == 0 and _count(PostRevision) == 0 and _count(PostImage) == 0
    assert not get_storage().exists(key)


def test_body_image_upload_stores_clean_image(editor_client, editor):
    post = make_post(author=editor, status="draft")
    response = editor_client.post(f"/blog/manage/posts/{post.id}/images",
                                  data={"image": (_png(), "leaf.png"),
                                        "csrf_token": _token(editor_client)},
                                  headers={"HX-Request": "true"})
    assert response.status_code == 201
    image = db.session.scalar(select(PostImage))
    assert (image.kind, image.content_type, image.width) == ("body", "image/png", 400)
    assert get_storage().exists(image.key)
    assert f"/blog/images/{image.id}" in response.text


@pytest.mark.parametrize("payload,status", [
    (b"<svg onload=alert(1)></svg>", 415),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, 422),
])
def test_bad_image_upload_is_refused_and_nothing_stored(editor_client, editor, payload, status):
    post = make_post(author=editor, status="draft")
    before = get_storage().list_keys("blog/")
    response = editor_client.post(f"/blog/manage/posts/{post.id}/images",
                                  data={"image": (io.BytesIO(payload), "x.png"),
                                        "csrf_token": _token(editor_client)},
                                  headers={"HX-Request": "true"})
    assert response.status_code == status
    assert _count(PostImage) == 0
    assert get_storage().list_keys("blog/") == before


def test_upload_without_file_is_refused(editor_client, editor):
    post = make_post(author=editor, status="draft")
    response = editor_client.post(f"/blog/manage/posts/{post.id}/images",
                                  data={"csrf_token": _token(editor_client)},
                                  headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert messages.BLOG_IMAGE_MISSING in unescape(response.text)


def test_cover_upload_replaces_previous_cover(editor_client, editor):
    post = make_post(author=editor, status="draft")
    for _ in range(2):
        editor_client.post(f"/blog/manage/posts/{post.id}",
                           data={"title": post.title, "body": post.body, "action": "save",
                                 "cover": (_png(), "cover.png"),
                                 "csrf_token": _token(editor_client)})
    covers = db.session.scalars(select(PostImage).where(PostImage.kind == "cover")).all()
    assert len(covers) == 1
    assert get_storage().list_keys(f"blog/{post.id}/") == [covers[0].key]


def test_cover_upload_strips_metadata(editor_client, editor):
    post = make_post(author=editor, status="draft")
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    Image.new("RGB", (300, 300), "green").save(buffer, format="JPEG", exif=exif)
    buffer.seek(0)
    editor_client.post(f"/blog/manage/posts/{post.id}",
                       data={"title": post.title, "body": post.body, "action": "save",
                             "cover": (buffer, "c.jpg"), "csrf_token": _token(editor_client)})
    image = db.session.scalar(select(PostImage))
    assert b"SpyCam" not in get_storage().open(image.key)


def test_edit_of_unknown_post_is_404(editor_client):
    assert editor_client.get(f"/blog/manage/posts/{uuid.uuid4()}").status_code == 404


def test_draft_preview_link_shows_draft_to_editors(editor_client):
    post = make_post(status="draft", title="Secret draft")
    response = editor_client.get(f"/blog/manage/posts/{post.id}/preview")
    assert response.status_code == 200
    assert "Secret draft" in response.text and "Only editors can see this page" in response.text


def test_manage_list_filters_by_status(editor_client):
    make_post(title="Live one")
    make_post(title="Draft one", status="draft")
    page = editor_client.get("/blog/manage?status=draft").text
    assert "Draft one" in page and "Live one" not in page
