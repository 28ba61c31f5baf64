"""Forum pages and fragments through the client: reading, replying, embedding, permissions, bad input."""
import io
import re
import uuid

import pytest
from markupsafe import escape
from PIL import Image
from sqlalchemy import func, select

from app.core import messages
from app.extensions import db
from app.forum import service
from app.forum.models import Post, PostImage, Reaction, Report, Thread
from tests.conftest import csrf_token
from tests.forum_helpers import (SUBJECT_TYPE, QueryCounter, category, dangerous_markup,  # noqa: F401
                                 make_thread, req, subjects)

HX = {"HX-Request": "true"}


def _posts():
    return db.session.scalar(select(func.count()).select_from(Post))


def _thread_with_replies(category, users, n=0):
    with_request = db.session  # noqa: F841 - services below need the request context of the caller
    thread = make_thread(category, users["alice"])
    for i in range(n):
        service.add_reply(thread, users["bob"] if i % 2 else users["alice"], f"Reply {i}")
    return thread


def _token(client, path):
    return csrf_token(client.get(path).text)


@pytest.fixture
def thread(users, category, req):
    return make_thread(category, users["alice"])


def test_index_lists_categories_and_threads(client, thread):
    response = client.get("/forum/")
    assert response.status_code == 200
    assert "Houseplants" in response.text and thread.title in response.text


def test_thread_page_shows_first_post_and_reply_form_for_members(client, auth, thread):
    auth.login("bob@example.com")
    response = client.get(f"/forum/threads/{thread.id}")
    assert response.status_code == 200
    assert "Help, the leaves turn yellow." in response.text
    assert f'id="thread-{thread.id}-reply"' in response.text


def test_thread_page_asks_visitors_to_sign_in(client, thread):
    response = client.get(f"/forum/threads/{thread.id}")
    assert "to join the discussion" in response.text and 'name="body"' not in response.text


def test_missing_thread_is_404(client, users):
    assert client.get(f"/forum/threads/{uuid.uuid4()}").status_code == 404


def test_reply_without_js_redirects_to_post(client, auth, thread):
    auth.login("bob@example.com")
    token = _token(client, f"/forum/threads/{thread.id}")
    response = client.post(f"/forum/threads/{thread.id}/posts",
                           data={"body": "Water less often", "csrf_token": token, "nonce": "n1"})
    assert response.status_code == 303
    post = db.session.scalar(select(Post).where(Post.number == 2))
    assert response.headers["Location"].endswith(f"#post-{post.id}")
    assert post.author.email == "bob@example.com"


def test_reply_with_htmx_returns_new_posts_and_oob_count(client, auth, thread):
    auth.login("bob@example.com")
    token = _token(client, f"/forum/threads/{thread.id}")
    response = client.post(f"/forum/threads/{thread.id}/posts", headers=HX,
                           data={"body": "Water less", "csrf_token": token, "nonce": "n2", "after": "1"})
    assert response.status_code == 201
    assert "<html" not in response.text and "Water less" in response.text
    assert f'id="thread-{thread.id}-count" class="count" hx-swap-oob="true">1 reply' in response.text
    assert f'id="thread-{thread.id}-tail"' in response.text and "after=2" in response.text


def test_double_submission_makes_one_post(client, auth, thread):
    auth.login("bob@example.com")
    token = _token(client, f"/forum/threads/{thread.id}")
    data = {"body": "Just once", "csrf_token": token, "nonce": "same-form"}
    client.post(f"/forum/threads/{thread.id}/posts", data=data)
    client.post(f"/forum/threads/{thread.id}/posts", data=data)
    assert _posts() == 2


def test_reply_without_csrf_is_refused(client, auth, thread):
    auth.login("bob@example.com")
    response = client.post(f"/forum/threads/{thread.id}/posts", data={"body": "x"})
    assert response.status_code == 400 and messages.CSRF_FAILED in response.text
    assert _posts() == 1


def test_reply_to_locked_thread_is_403_with_message(client, auth, thread):
    thread.locked = True
    db.session.commit()
    auth.login("bob@example.com")
    token = _token(client, "/forum/")
    response = client.post(f"/forum/threads/{thread.id}/posts",
                           data={"body": "let me", "csrf_token": token}, headers=HX)
    assert response.status_code == 403 and messages.THREAD_LOCKED in response.text
    assert _posts() == 1


def test_empty_reply_is_422(client, auth, thread):
    auth.login("bob@example.com")
    token = _token(client, "/forum/")
    response = client.post(f"/forum/threads/{thread.id}/posts", data={"body": "", "csrf_token": token})
    assert response.status_code == 422 and _posts() == 1


def test_reply_signed_out_goes_to_login(client, thread):
    token = _token(client, "/accounts/login")
    response = client.post(f"/forum/threads/{thread.id}/posts", data={"body": "x", "csrf_token": token})
    assert response.status_code == 302 and "/accounts/login" in response.headers["Location"]


def test_poll_answers_204_when_nothing_is_new(client, thread):
    response = client.get(f"/forum/threads/{thread.id}/poll?after=1", headers=HX)
    assert response.status_code == 204 and response.data == b""


def test_poll_returns_posts_after_number(client, thread, users):
    service.add_reply(thread, users["bob"], "Fresh news")
    response = client.get(f"/forum/threads/{thread.id}/poll?after=1", headers=HX)
    assert response.status_code == 200 and "Fresh news" in response.text
    assert "Help, the leaves" not in response.text


def test_edit_someone_elses_post_is_403(client, auth, thread, users):
    post = service.add_reply(thread, users["bob"], "Bob's words")
    auth.login("alice@example.com")
    token = _token(client, "/forum/")
    response = client.post(f"/forum/posts/{post.id}/edit", data={"body": "Alice's", "csrf_token": token})
    assert response.status_code == 403
    db.session.refresh(post)
    assert post.body == "Bob's words"


def test_edit_own_post_shows_edited_mark(client, auth, thread, users):
    post = service.add_reply(thread, users["bob"], "Bob's words")
    auth.login("bob@example.com")
    token = _token(client, f"/forum/posts/{post.id}/edit")
    response = client.post(f"/forum/posts/{post.id}/edit", data={"body": "Better words", "csrf_token": token})
    assert response.status_code == 303
    page = client.get(f"/forum/threads/{thread.id}")
    assert "Better words" in page.text and 'class="edited"' in page.text
    history = client.get(f"/forum/posts/{post.id}/history")
    assert "Bob&#39;s words" in history.text or "Bob's words" in history.text


def test_delete_keeps_thread_readable(client, auth, thread, users):
    post = service.add_reply(thread, users["bob"], "Regret")
    auth.login("bob@example.com")
    token = _token(client, "/forum/")
    assert client.post(f"/forum/posts/{post.id}/delete", data={"csrf_token": token}).status_code == 303
    page = client.get(f"/forum/threads/{thread.id}")
    assert "This post was deleted." in page.text and "Regret" not in page.text


def test_delete_someone_elses_post_is_403(client, auth, thread, users):
    post = service.add_reply(thread, users["bob"], "Mine")
    auth.login("alice@example.com")
    token = _token(client, "/forum/")
    assert client.post(f"/forum/posts/{post.id}/delete", data={"csrf_token": token}).status_code == 403
    db.session.refresh(post)
    assert post.deleted_at is None


def test_reaction_fragment_counts(client, auth, thread):
    first = db.session.scalar(select(Post).where(Post.thread_id == thread.id))
    auth.login("bob@example.com")
    token = _token(client, "/forum/")
    response = client.post(f"/forum/posts/{first.id}/reactions/helpful", headers=HX,
                           data={"csrf_token": token})
    assert response.status_code == 200 and "<html" not in response.text
    assert 'aria-pressed="true"' in response.text
    assert db.session.scalar(select(func.count()).select_from(Reaction)) == 1


def test_report_three_times_hides_post_for_readers(client, auth, thread, users, make_user):
    post = service.add_reply(thread, users["bob"], "Spammy spam")
    for _ in range(3):
        service.report_post(post, make_user())
    page = client.get(f"/forum/threads/{thread.id}")
    assert "Spammy spam" not in page.text and "reviews reports" in page.text


def test_report_route_records_report(client, auth, thread, users):
    post = service.add_reply(thread, users["bob"], "Rude")
    auth.login("alice@example.com")
    token = _token(client, f"/forum/posts/{post.id}/report")
    response = client.post(f"/forum/posts/{post.id}/report", data={"reason": "rude", "csrf_token": token})
    assert response.status_code == 303
    assert db.session.scalar(select(Report.reason)) == "rude"


def test_member_cannot_moderate_route(client, auth, thread):
    auth.login("bob@example.com")
    token = _token(client, "/forum/")
    response = client.post(f"/forum/threads/{thread.id}/moderate", data={"action": "lock", "csrf_token": token})
    assert response.status_code == 403
    db.session.refresh(thread)
    assert not thread.locked


def test_moderator_locks_thread(client, auth, thread, make_user):
    make_user(email="mod@example.com", role="moderator")
    auth.login("mod@example.com")
    token = _token(client, "/forum/")
    response = client.post(f"/forum/threads/{thread.id}/moderate",
                           data={"action": "lock", "reason": "calm down", "csrf_token": token})
    assert response.status_code == 303
    db.session.refresh(thread)
    assert thread.locked


def test_xss_in_title_and_tags_is_escaped(client, users, category, req):
    payload = '<img src=x onerror=alert(1)><div hx-get="/accounts/logout" hx-trigger="load">'
    thread = service.create_thread(category, users["alice"], payload, payload, tags=payload)
    page = client.get(f"/forum/threads/{thread.id}")
    assert payload not in page.text
    assert dangerous_markup(page.text.split("<main", 1)[1], hx=False,
                            injected=("/accounts/logout", "load")) == []


def test_xss_in_display_name_is_escaped(client, users, category, req, make_user):
    evil = make_user(display_name='<b hx-post="/x">Eve</b>')
    thread = make_thread(category, evil)
    page = client.get(f"/forum/threads/{thread.id}")
    assert dangerous_markup(page.text.split("<main", 1)[1], hx=False, injected=("/x",)) == []


def test_user_content_container_disables_htmx(client, thread):
    page = client.get(f"/forum/threads/{thread.id}")
    assert 'class="post-body" hx-disable' in page.text


def test_new_thread_form_creates_thread(client, auth, category, users):
    auth.login("bob@example.com")
    token = _token(client, f"/forum/categories/{category.id}/new")
    response = client.post(f"/forum/categories/{category.id}/new", data={
        "title": "Basil bolting", "body": "It flowers already", "tags": "basil", "csrf_token": token,
        "nonce": "t1"})
    assert response.status_code == 303
    thread = db.session.scalar(select(Thread))
    assert thread.title == "Basil bolting" and thread.tags == ["basil"]


def test_new_thread_without_title_is_422(client, auth, category, users):
    auth.login("bob@example.com")
    token = _token(client, f"/forum/categories/{category.id}/new")
    response = client.post(f"/forum/categories/{category.id}/new",
                           data={"title": "", "body": "x", "csrf_token": token})
    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Thread)) == 0


def test_mentions_fragment_suggests_users(client, auth, users):
    auth.login("bob@example.com")
    response = client.get("/forum/mentions?body=thanks%20@ali", headers=HX)
    assert response.status_code == 200 and "@Alice" in response.text and "<html" not in response.text


def test_reply_with_photo_stores_clean_image(client, auth, thread, app):
    auth.login("bob@example.com")
    token = _token(client, f"/forum/threads/{thread.id}")
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), "green").save(buffer, "PNG")
    buffer.seek(0)
    response = client.post(f"/forum/threads/{thread.id}/posts", content_type="multipart/form-data",
                           data={"body": "Look", "csrf_token": token, "images": (buffer, "leaf.png")})
    assert response.status_code == 303
    image = db.session.scalar(select(PostImage))
    assert app.extensions["storage"].exists(image.key) and app.extensions["storage"].exists(image.thumb_key)
    served = client.get(f"/forum/images/{image.id}")
    assert served.status_code == 200 and served.mimetype == "image/png"


def test_reply_with_fake_photo_is_415_and_stores_nothing(client, auth, thread, app):
    auth.login("bob@example.com")
    token = _token(client, f"/forum/threads/{thread.id}")
    response = client.post(f"/forum/threads/{thread.id}/posts", content_type="multipart/form-data",
                           data={"body": "Look", "csrf_token": token,
                                 "images": (io.BytesIO(b"<svg></svg>"), "plant.jpg")})
    assert response.status_code == 415 and messages.UPLOAD_BAD_TYPE in response.text
    assert _posts() == 1 and db.session.scalar(select(func.count()).select_from(PostImage)) == 0


# Embedded threads


def test_embed_for_missing_subject_is_404(client, subjects):
    assert client.get(f"/forum/embed/{SUBJECT_TYPE}/{uuid.uuid4()}", headers=HX).status_code == 404


def test_embed_for_unknown_type_is_404(client, subjects):
    subject_id = subjects.add()
    assert client.get(f"/forum/embed/nope/{subject_id}", headers=HX).status_code == 404


def test_embed_before_any_reply_shows_zero_and_creates_nothing(client, subjects):
    subject_id = subjects.add()
    response = client.get(f"/forum/embed/{SUBJECT_TYPE}/{subject_id}", headers=HX)
    assert response.status_code == 200 and "<html" not in response.text
    assert "0 replies" in response.text and "No replies yet" in response.text
    assert db.session.scalar(select(func.count()).select_from(Thread)) == 0


def test_embed_reply_creates_thread_lazily(client, auth, users, subjects):
    subject_id = subjects.add()
    auth.login("bob@example.com")
    token = _token(client, f"/forum/about/{SUBJECT_TYPE}/{subject_id}")
    response = client.post(f"/forum/about/{SUBJECT_TYPE}/{subject_id}/posts", headers=HX,
                           data={"body": "Lovely plant", "csrf_token": token, "after": "0"})
    assert response.status_code == 201 and "Lovely plant" in response.text
    thread = service.thread_for(SUBJECT_TYPE, subject_id)
    assert thread is not None and thread.reply_count == 1
    embed = client.get(f"/forum/embed/{SUBJECT_TYPE}/{subject_id}", headers=HX)
    assert "1 reply" in embed.text and "Lovely plant" in embed.text


def test_embed_shows_latest_posts_and_show_older(client, users, subjects, req):
    subject_id = subjects.add()
    thread = service.ensure_subject_thread(SUBJECT_TYPE, subject_id, users["alice"])
    for i in range(1, 8):
        service.add_reply(thread, users["bob"], f"Embedded number {i}")
    embed = client.get(f"/forum/embed/{SUBJECT_TYPE}/{subject_id}", headers=HX)
    assert "Embedded number 7" in embed.text and "Embedded number 2" not in embed.text
    assert "Show older replies" in embed.text and "before=3" in embed.text
    older = client.get(f"/forum/embed/{SUBJECT_TYPE}/{subject_id}?before=3", headers=HX)
    assert "Embedded number 1" in older.text and "Embedded number 2" in older.text
    assert "Embedded number 3" not in older.text and "Show older" not in older.text


def test_subject_page_links_back_to_subject(client, subjects):
    subject_id = subjects.add("Fiddle-leaf fig")
    page = client.get(f"/forum/about/{SUBJECT_TYPE}/{subject_id}")
    assert page.status_code == 200 and f'href="/plants/{subject_id}"' in page.text
    assert "Fiddle-leaf fig" in page.text


def test_subject_thread_of_vanished_subject_is_404(client, users, subjects, req):
    subject_id = subjects.add()
    thread = service.ensure_subject_thread(SUBJECT_TYPE, subject_id, users["alice"])
    subjects.known.pop(subject_id)
    assert client.get(f"/forum/about/{SUBJECT_TYPE}/{subject_id}").status_code == 404
    assert client.get(f"/forum/threads/{thread.id}").status_code == 404


def test_subject_poll_is_204_before_thread_exists(client, subjects):
    subject_id = subjects.add()
    assert client.get(f"/forum/about/{SUBJECT_TYPE}/{subject_id}/poll?after=0").status_code == 204


# Query counts must not grow with the number of posts shown


def _queries(app, client, path):
    client.get(path)  # warm: user loading, lazy imports
    with QueryCounter(db.engine) as counter:
        assert client.get(path).status_code == 200
    return counter.count


def test_thread_page_query_count_is_constant(app, client, auth, users, category, req):
    small = _thread_with_replies(category, users, n=2)
    big = _thread_with_replies(category, users, n=19)
    auth.login("bob@example.com")
    for post in db.session.scalars(select(Post)).all():
        service.toggle_reaction(post, users["alice"], "like")
    assert _queries(app, client, f"/forum/threads/{small.id}") == _queries(app, client, f"/forum/threads/{big.id}")


def test_embed_query_count_is_constant(app, client, auth, users, subjects, req):
    auth.login("alice@example.com")  # signed in: rendered per reader, not cached
    counts = []
    for n in (1, 5):
        subject_id = subjects.add()
        thread = service.ensure_subject_thread(SUBJECT_TYPE, subject_id, users["alice"])
        for i in range(n):
            service.add_reply(thread, users["bob"], f"r{i}")
        counts.append(_queries(app, client, f"/forum/embed/{SUBJECT_TYPE}/{subject_id}"))
    assert counts[0] == counts[1]


# Rate limits


def test_reply_rate_limit_is_429_with_standard_message(client, auth, thread, users, monkeypatch):
    auth.login("bob@example.com")
    token = _token(client, "/forum/")
    statuses = []
    for i in range(11):  # bob is a new account: 10 an hour
        response = client.post(f"/forum/threads/{thread.id}/posts", headers=HX,
                               data={"body": f"r{i}", "csrf_token": token, "nonce": f"n{i}"})
        statuses.append(response.status_code)
    assert statuses[:10] == [201] * 10 and statuses[10] == 429
    # An hourly limit: the wait is said in minutes.
    pattern = re.escape(str(escape(messages.RATE_LIMITED_MINUTES))).replace(r"\{minutes\}", r"\d+")
    assert re.search(pattern, response.text) and int(response.headers["Retry-After"]) > 120
    assert _posts() == 11


# Signed-out readers get cached HTML, made stale by every write


def test_anonymous_thread_page_hit_makes_no_queries(app, client, thread):
    path = f"/forum/threads/{thread.id}"
    client.get(path)
    with QueryCounter(db.engine) as counter:
        response = client.get(path)
    assert response.status_code == 200 and thread.title in response.text
    assert counter.count == 0


def test_anonymous_thread_page_shows_new_reply_after_cache(client, thread, users):
    path = f"/forum/threads/{thread.id}"
    client.get(path)
    service.add_reply(thread, users["bob"], "Brand new advice")
    assert "Brand new advice" in client.get(path).text


def test_anonymous_thread_page_shows_edit_after_cache(client, thread, users):
    post = service.add_reply(thread, users["bob"], "Old advice")
    path = f"/forum/threads/{thread.id}"
    client.get(path)
    service.edit_post(post, users["bob"], "Corrected advice")
    page = client.get(path).text
    assert "Corrected advice" in page and "Old advice" not in page


def test_anonymous_thread_page_is_404_once_hidden(client, thread, make_user):
    path = f"/forum/threads/{thread.id}"
    assert client.get(path).status_code == 200
    service.moderate_thread(thread, make_user(role="moderator"), "hide", "spam")
    assert client.get(path).status_code == 404


def test_anonymous_embed_hit_makes_no_queries(client, users, subjects, req):
    subject_id = subjects.add()
    thread = service.ensure_subject_thread(SUBJECT_TYPE, subject_id, users["alice"])
    service.add_reply(thread, users["bob"], "Cached reply")
    path = f"/forum/embed/{SUBJECT_TYPE}/{subject_id}"
    client.get(path)
    with QueryCounter(db.engine) as counter:
        response = client.get(path, headers=HX)
    assert "Cached reply" in response.text and counter.count == 0


def test_anonymous_embed_shows_first_reply_after_cache(client, users, subjects, req):
    subject_id = subjects.add()
    path = f"/forum/embed/{SUBJECT_TYPE}/{subject_id}"
    assert "0 replies" in client.get(path).text
    thread = service.ensure_subject_thread(SUBJECT_TYPE, subject_id, users["alice"])
    service.add_reply(thread, users["bob"], "The very first")
    embed = client.get(path).text
    assert "1 reply" in embed and "The very first" in embed


def test_anonymous_embed_is_404_when_subject_vanishes(client, subjects):
    subject_id = subjects.add()
    path = f"/forum/embed/{SUBJECT_TYPE}/{subject_id}"
    assert client.get(path).status_code == 200
    subjects.known.pop(subject_id)
    assert client.get(path).status_code == 404


def test_reply_in_staff_category_is_404_for_members(client, auth, users, make_user, req):
    from app.forum.models import Category
    staff = Category(slug="staff", name="Staff room", min_role="moderator")
    db.session.add(staff)
    db.session.commit()
    thread = service.create_thread(staff, make_user(role="moderator"), "Rota", "Who's on?")
    auth.login("bob@example.com")
    token = _token(client, "/forum/")
    response = client.post(f"/forum/threads/{thread.id}/posts", data={"body": "me", "csrf_token": token})
    assert response.status_code == 404 and _posts() == 1
    assert client.get(f"/forum/threads/{thread.id}").status_code == 404


def test_reaction_without_csrf_header_or_field_is_400(client, auth, thread):
    first = db.session.scalar(select(Post).where(Post.thread_id == thread.id))
    auth.login("bob@example.com")
    response = client.post(f"/forum/posts/{first.id}/reactions/like", headers=HX)
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Reaction)) == 0


def test_reaction_with_htmx_csrf_header_counts(client, auth, thread):
    first = db.session.scalar(select(Post).where(Post.thread_id == thread.id))
    auth.login("bob@example.com")
    token = _token(client, "/forum/")
    response = client.post(f"/forum/posts/{first.id}/reactions/like",
                           headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 200
    assert db.session.scalar(select(func.count()).select_from(Reaction)) == 1
