"""The blog's search index: FTS5 on SQLite, a weighted tsvector on PostgreSQL (title A, summary B, body D)."""
import uuid
from collections.abc import Iterable

from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.orm import Session

from app.blog.models import Post
from app.search import index
from app.search.base import SearchIndexNames
from app.search.index import PG_TSQUERY, pg_headline

INDEX_NAMES = SearchIndexNames(tables=("post_fts",), columns=("post.search_vector",),
                               indexes=("ix_post_search_vector",))
# A bound on how many matches one query ranks: the newest this many, so a word in every post stays fast.
CANDIDATE_CAP = 100

# Keep in step with migrations/versions/0009_search_posts_threads.py, which fills existing rows.
PG_VECTOR = ("setweight(to_tsvector('english', coalesce(p.title, '')), 'A')"
             " || setweight(to_tsvector('english', coalesce(p.summary, '')), 'B')"
             " || setweight(to_tsvector('english', coalesce(p.body, '')), 'D')")
_PG_REINDEX = text(f"UPDATE post AS p SET search_vector = {PG_VECTOR} WHERE p.id IN :ids").bindparams(
    bindparam("ids", expanding=True, type_=Uuid))
SQLITE_ROW = "SELECT p.id, p.title, p.summary, p.body FROM post p"
_SQLITE_DELETE = text("DELETE FROM post_fts WHERE post_id IN :ids").bindparams(
    bindparam("ids", expanding=True, type_=Uuid))
_SQLITE_INSERT = text(f"INSERT INTO post_fts (post_id, title, summary, body) {SQLITE_ROW} "
                      "WHERE p.id IN :ids").bindparams(bindparam("ids", expanding=True, type_=Uuid))

# Candidates: the newest matching published posts (bounded), then ranked by weighted text rank.
_PG_SEARCH = text(f"""
WITH hits AS (
  SELECT p.id FROM post p
  WHERE p.search_vector @@ {PG_TSQUERY} AND p.status = 'published'
  ORDER BY p.published_at DESC LIMIT :cap
), ranked AS (
  SELECT p.id, ts_rank(p.search_vector, {PG_TSQUERY}) AS score, count(*) OVER () AS total
  FROM hits h JOIN post p ON p.id = h.id
  ORDER BY score DESC, p.published_at DESC LIMIT :limit OFFSET :offset
)
SELECT r.id, r.score, r.total, p.title, p.slug,
       {pg_headline("concat_ws(' ', nullif(p.summary, ''), p.body)")}
FROM ranked r JOIN post p ON p.id = r.id
ORDER BY r.score DESC, p.published_at DESC
""")
_SQLITE_SEARCH = text("""
WITH f AS (
  SELECT post_id, bm25(post_fts, 0, 10.0, 4.0, 1.0) AS rank FROM post_fts WHERE post_fts MATCH :match
)
SELECT p.id AS id, -f.rank AS score, count(*) OVER () AS total, p.title, p.slug, p.summary, p.body
FROM f JOIN post p ON p.id = f.post_id
WHERE p.status = 'published'
ORDER BY score DESC, p.published_at DESC LIMIT :limit OFFSET :offset
""")


def reindex(session: Session, post_ids: Iterable[uuid.UUID]) -> None:
    """Bring the search index up to date for these posts (inside the caller's transaction)."""
    index.reindex(session, post_ids, pg=_PG_REINDEX, sqlite=(_SQLITE_DELETE, _SQLITE_INSERT))


def search(session: Session, q: str, limit: int, offset: int) -> tuple[list, int]:
    """Return the page's matching published posts, best first, and how many matched.

    Rows carry id, score, title and slug, and on PostgreSQL a highlighted headline (with the
    text's opening and closing words), elsewhere the summary and body to make one from.
    """
    return index.search(session, q, limit, offset, pg=_PG_SEARCH, sqlite=_SQLITE_SEARCH, cap=CANDIDATE_CAP)


def _touched_posts(session: Session) -> list[Post]:
    return [obj for obj in (*session.new, *session.dirty, *session.deleted) if isinstance(obj, Post)]


def listen() -> None:
    """Keep the index current on every flush that adds, changes or removes posts."""
    index.keep_current("post", _touched_posts, reindex)
