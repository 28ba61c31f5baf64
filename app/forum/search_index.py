"""The forum's search index: FTS5 on SQLite, a weighted tsvector on PostgreSQL (title A, tags B, opening post D)."""
import uuid
from collections.abc import Iterable

from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.orm import Session

from app.forum.models import Post, Thread
from app.search import index
from app.search.base import SearchIndexNames
from app.search.index import PG_TSQUERY, pg_headline

INDEX_NAMES = SearchIndexNames(tables=("forum_thread_fts",), columns=("forum_thread.search_vector",),
                               indexes=("ix_forum_thread_search_vector",))
# A bound on how many matches one query ranks: the most recently active this many.
CANDIDATE_CAP = 100

# The opening post counts while it is visible; replies are conversation, not what the thread is about.
# Keep in step with migrations/versions/0009_search_posts_threads.py, which fills existing rows.
OPENING_POST = ("(SELECT fp.body FROM forum_post fp WHERE fp.thread_id = t.id AND fp.number = 1"
                " AND NOT fp.hidden AND fp.deleted_at IS NULL)")
PG_VECTOR = ("setweight(to_tsvector('english', coalesce(t.title, '')), 'A')"
             " || setweight(to_tsvector('english', coalesce(t.tags::text, '')), 'B')"
             f" || setweight(to_tsvector('english', coalesce({OPENING_POST}, '')), 'D')")
_PG_REINDEX = text(f"UPDATE forum_thread AS t SET search_vector = {PG_VECTOR} WHERE t.id IN :ids").bindparams(
    bindparam("ids", expanding=True, type_=Uuid))
SQLITE_ROW = (f"SELECT t.id, t.title, coalesce(t.tags, ''), coalesce({OPENING_POST}, '') FROM forum_thread t")
_SQLITE_DELETE = text("DELETE FROM forum_thread_fts WHERE thread_id IN :ids").bindparams(
    bindparam("ids", expanding=True, type_=Uuid))
_SQLITE_INSERT = text(f"INSERT INTO forum_thread_fts (thread_id, title, tags, body) {SQLITE_ROW} "
                      "WHERE t.id IN :ids").bindparams(bindparam("ids", expanding=True, type_=Uuid))

# Only threads everyone may read: not hidden, in a category without a role (embedded threads,
# which have no category, are found through the page they sit under).
_VISIBLE = ("NOT t.hidden AND t.category_id IN (SELECT c.id FROM forum_category c WHERE c.min_role IS NULL)")
_PG_SEARCH = text(f"""
WITH hits AS (
  SELECT t.id FROM forum_thread t
  WHERE t.search_vector @@ {PG_TSQUERY} AND {_VISIBLE}
  ORDER BY t.last_post_at DESC LIMIT :cap
), ranked AS (
  SELECT t.id, ts_rank(t.search_vector, {PG_TSQUERY}) AS score, count(*) OVER () AS total
  FROM hits h JOIN forum_thread t ON t.id = h.id
  ORDER BY score DESC, t.last_post_at DESC LIMIT :limit OFFSET :offset
)
SELECT r.id, r.score, r.total, t.title, {pg_headline(f"coalesce({OPENING_POST}, '')")}
FROM ranked r JOIN forum_thread t ON t.id = r.id
ORDER BY r.score DESC, t.last_post_at DESC
""")
_SQLITE_SEARCH = text(f"""
WITH f AS (
  SELECT thread_id, bm25(forum_thread_fts, 0, 10.0, 4.0, 1.0) AS rank
  FROM forum_thread_fts WHERE forum_thread_fts MATCH :match
), ranked AS (
  SELECT t.id AS id, -f.rank AS score, count(*) OVER () AS total
  FROM f JOIN forum_thread t ON t.id = f.thread_id
  WHERE {_VISIBLE}
  ORDER BY score DESC, t.last_post_at DESC LIMIT :limit OFFSET :offset
)
SELECT r.id, r.score, r.total, t.title, coalesce({OPENING_POST}, '') AS body
FROM ranked r JOIN forum_thread t ON t.id = r.id
ORDER BY r.score DESC, t.last_post_at DESC
""")


def reindex(session: Session, thread_ids: Iterable[uuid.UUID]) -> None:
    """Bring the search index up to date for these threads (inside the caller's transaction)."""
    index.reindex(session, thread_ids, pg=_PG_REINDEX, sqlite=(_SQLITE_DELETE, _SQLITE_INSERT))


def search(session: Session, q: str, limit: int, offset: int) -> tuple[list, int]:
    """Return the page's matching threads that everyone may read, best first, and how many matched.

    Rows carry id, score and title, and on PostgreSQL a highlighted headline of the opening post
    (with its opening and closing words), elsewhere the opening post's body to make one from.
    """
    return index.search(session, q, limit, offset, pg=_PG_SEARCH, sqlite=_SQLITE_SEARCH, cap=CANDIDATE_CAP)


def _touched_threads(session: Session) -> set:
    # Threads themselves, and the thread of an opening post (by id: the thread may not be loaded).
    touched = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Thread):
            touched.add(obj)
        elif isinstance(obj, Post) and obj.number == 1 and obj.thread_id:
            touched.add(obj.thread_id)
    return touched


def listen() -> None:
    """Keep the index current on every flush that touches a thread or its opening post."""
    index.keep_current("forum_thread", _touched_threads, reindex)
