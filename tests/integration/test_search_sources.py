"""Blog posts and forum threads as full-text search sources: found, ranked, kept current, safe."""
import pytest
from sqlalchemy import text

from app.blog import service as blog
from app.core import messages
from app.extensions import db
from app.forum import service as forum
from app.search import service as search
from app.search.base import search_sources
from tests.factories import is_postgres, make_post, make_user
from tests.forum_helpers import make_thread

BAD_QUERIES = ["", " ", "x" * 201, "'", '"', "&", "|", "!", ":*", "\\", "a' OR 1=1 --", "fig & | ! :* \\",
               '"unclosed', "NEAR(", "AND", "OR", "-", "- -", "*", "()", "<->", "🌿 plant", "Ficus:*A",
               "naïve café", "日本語", "tomato\x00es", "fig\x02leaf\x03", "prun:*", "'prun':* & x"]

# Hits carry URLs, which need a request to build.
pytestmark = pytest.mark.usefixtures("request_context")


def _source(kind: str):
    return next(s for s in search_sources() if s.kind == kind)


def _titles(kind: str, q: str) -> list[str]:
    hits, _ = _source(kind).search(q, 10, 0)
    return [hit.title for hit in hits]


@pytest.fixture
def editor(app_ctx):
    return make_user(role="editor")


@pytest.fixture
def forum_category(app_ctx):
    forum.seed_categories()
    return db.session.scalar(db.select(forum.Category).order_by(forum.Category.position).limit(1))


@pytest.fixture
def member(app_ctx):
    return make_user()


def _edit_post(post, **changes):
    data = blog.PostData.from_post(post)
    for name, value in changes.items():
        setattr(data, name, value)
    with db.session.no_autoflush:
        return blog.save_post(post, data, post.author)


def test_post_found_by_a_word_of_its_title(editor):
    make_post(editor, title="Pruning roses in winter")
    assert _titles("post", "roses") == ["Pruning roses in winter"]


def test_post_found_by_a_word_of_its_body(editor):
    make_post(editor, title="Notes", body="The **aphids** came back after the rain.")
    assert _titles("post", "aphids") == ["Notes"]


def test_post_drafts_are_not_found(editor):
    make_post(editor, title="Secret aphids", status="draft")
    assert _titles("post", "aphids") == []


def test_post_title_match_outranks_body_match(editor):
    make_post(editor, title="Spring notes", body="Then the aphids arrived, as aphids do.")
    make_post(editor, title="Aphids on roses", body="Small green insects.")
    assert _titles("post", "aphids") == ["Aphids on roses", "Spring notes"]


def test_post_last_word_matches_as_a_prefix(editor):
    make_post(editor, title="Pruning roses")
    assert _titles("post", "prun") == ["Pruning roses"]


def test_post_every_word_is_required(editor):
    make_post(editor, title="Pruning roses")
    make_post(editor, title="Pruning apples")
    assert _titles("post", "pruning roses") == ["Pruning roses"]


def test_post_search_stems_words_on_postgres(editor):
    if not is_postgres():
        pytest.skip("stemming is PostgreSQL's english configuration")
    make_post(editor, title="How I pruned the roses")
    assert _titles("post", "pruning") == ["How I pruned the roses"]


def test_post_websearch_syntax_excludes_words_on_postgres(editor):
    if not is_postgres():
        pytest.skip("websearch_to_tsquery is PostgreSQL's")
    make_post(editor, title="Roses and aphids")
    make_post(editor, title="Roses in June")
    assert _titles("post", "roses -aphids") == ["Roses in June"]


def test_post_vector_follows_an_edit(editor):
    post = make_post(editor, title="Tomato diary", body="Seedlings up.")
    _edit_post(post, title="Chilli diary", body="Peppers now.")
    assert _titles("post", "chilli") == ["Chilli diary"]
    assert _titles("post", "peppers") == ["Chilli diary"]
    assert _titles("post", "tomato") == [] and _titles("post", "seedlings") == []


def test_post_index_forgets_a_deleted_post(editor):
    post = make_post(editor, title="Compost heap")
    db.session.delete(post)
    db.session.commit()
    assert _titles("post", "compost") == []


def test_post_tsvector_is_weighted_on_postgres(editor):
    if not is_postgres():
        pytest.skip("the tsvector column exists on PostgreSQL")
    post = make_post(editor, title="Pruning roses", summary="Bud", body="Cut above an outward bud.")
    vector = db.session.scalar(text("SELECT search_vector::text FROM post WHERE id = :id"), {"id": post.id})
    assert "'prune':1A" in vector and "'bud':3B" in vector and "'outward':" in vector


def test_post_fts5_table_holds_the_post_on_sqlite(editor):
    if is_postgres():
        pytest.skip("FTS5 is the SQLite index")
    make_post(editor, title="Pruning roses")
    rows = db.session.execute(text("SELECT title FROM post_fts WHERE post_fts MATCH 'title:roses'"))
    assert [r[0] for r in rows] == ["Pruning roses"]


def test_post_snippet_escapes_text_and_marks_only_matches(editor):
    make_post(editor, title="Markup", body="Never <script>alert(1)</script> the aphids & mites.")
    hit = _source("post").search("aphids", 10, 0)[0][0]
    assert "<mark>aphids</mark>" in hit.snippet
    assert "<script>" not in hit.snippet and "&lt;script&gt;" in hit.snippet
    assert str(hit.snippet).replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_thread_found_by_a_word_of_its_title(forum_category, member):
    make_thread(forum_category, member, title="Blossom end rot", body="Help please.")
    assert _titles("thread", "blossom") == ["Blossom end rot"]


def test_thread_found_by_a_word_of_its_opening_post(forum_category, member):
    make_thread(forum_category, member, title="Tomato trouble", body="The fruit has black bottoms.")
    assert _titles("thread", "bottoms") == ["Tomato trouble"]


def test_thread_title_match_outranks_body_match(forum_category, member):
    make_thread(forum_category, member, title="Garden diary", body="Mealybugs everywhere, mealybugs!")
    make_thread(forum_category, member, title="Mealybugs on my cactus", body="White fluff.")
    assert _titles("thread", "mealybugs") == ["Mealybugs on my cactus", "Garden diary"]


def test_thread_search_stems_words_on_postgres(forum_category, member):
    if not is_postgres():
        pytest.skip("stemming is PostgreSQL's english configuration")
    make_thread(forum_category, member, title="Repotting a monstera", body="Roots everywhere.")
    assert _titles("thread", "repotted") == ["Repotting a monstera"]


def test_thread_vector_follows_an_edit_of_the_opening_post(forum_category, member):
    thread = make_thread(forum_category, member, title="Question", body="Why are my leaves yellow?")
    opening = db.session.scalar(db.select(forum.Post).where(forum.Post.thread_id == thread.id))
    forum.edit_post(opening, member, "Why are my leaves brown?")
    assert _titles("thread", "brown") == ["Question"]
    assert _titles("thread", "yellow") == []


def test_thread_replies_do_not_touch_its_vector(forum_category, member):
    thread = make_thread(forum_category, member, title="Question", body="Leaves yellow.")
    forum.add_reply(thread, member, "Try less water.")
    assert _titles("thread", "water") == []
    assert _titles("thread", "yellow") == ["Question"]


def test_thread_hidden_opening_post_is_not_searchable(forum_category, member):
    thread = make_thread(forum_category, member, title="Question", body="Secret words here.")
    opening = db.session.scalar(db.select(forum.Post).where(forum.Post.thread_id == thread.id))
    forum.moderate_post(opening, make_user(role="moderator"), "hide", "spam")
    assert _titles("thread", "secret") == []
    hits, _ = _source("thread").search("question", 10, 0)
    assert "Secret" not in hits[0].snippet


def test_thread_hidden_by_moderator_is_not_found(forum_category, member):
    thread = make_thread(forum_category, member, title="Blossom end rot", body="Help.")
    forum.moderate_thread(thread, make_user(role="moderator"), "hide")
    assert _titles("thread", "blossom") == []


def test_thread_in_a_staff_category_is_not_found(app_ctx, member):
    staff = forum.Category(slug="staff", name="Staff room", min_role="moderator")
    db.session.add(staff)
    db.session.commit()
    make_thread(staff, make_user(role="moderator"), title="Blossom plans", body="shh")
    assert _titles("thread", "blossom") == []


def test_thread_fts5_table_holds_the_thread_on_sqlite(forum_category, member):
    if is_postgres():
        pytest.skip("FTS5 is the SQLite index")
    make_thread(forum_category, member, title="Blossom end rot", body="Help.")
    rows = db.session.execute(text("SELECT title FROM forum_thread_fts WHERE forum_thread_fts MATCH 'body:help'"))
    assert [r[0] for r in rows] == ["Blossom end rot"]


def test_thread_snippet_escapes_text_and_marks_only_matches(forum_category, member):
    make_thread(forum_category, member, title="Pests", body='Mites & <img src=x onerror="alert(1)"> aphids.')
    hit = _source("thread").search("aphids", 10, 0)[0][0]
    assert "<mark>aphids</mark>" in hit.snippet
    assert "<img" not in hit.snippet
    assert str(hit.snippet).replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_site_search_groups_posts_and_threads(client, editor, forum_category, member):
    make_post(editor, title="Aphids on roses")
    make_thread(forum_category, member, title="Aphids again", body="Help.")
    html = client.get("/search?q=aphids").text
    assert "Aphids on roses" in html and "Aphids again" in html
    assert html.index("Blog posts <small") < html.index("Forum <small")


@pytest.mark.parametrize("kind", ["species", "post", "thread"])
@pytest.mark.parametrize("q", BAD_QUERIES)
def test_bad_input_never_fails_a_source(editor, forum_category, member, kind, q):
    make_post(editor, title="Pruning roses", body="Cut above a bud & water.")
    make_thread(forum_category, member, title="Pruning question", body="When to cut?")
    hits, total = _source(kind).search(search.clean_query(q)[0], 10, 0)
    assert total >= len(hits) >= 0


@pytest.mark.parametrize("q", BAD_QUERIES)
def test_bad_input_never_fails_the_page(app, client, editor, forum_category, member, q, monkeypatch):
    # Many searches in one minute from one address: the per-IP limit is not what is tested here.
    monkeypatch.setitem(app.config, "SEARCH_RATE_LIMIT", "100000 per minute")
    make_post(editor, title="Pruning roses")
    for kind in ("post", "thread"):
        response = client.get("/search", query_string={"q": q, "kind": kind})
        # A NUL byte is refused at the door (400) before search sees it.
        assert response.status_code == (400 if "\x00" in q else 200)
        assert messages.SERVER_ERROR.replace("'", "&#39;") not in response.text
