"""What the domains' full-text indexes share: safe query terms, highlighted headlines, reindexing and search."""
import re
import uuid
from collections.abc import Callable, Iterable
from types import SimpleNamespace

from markupsafe import Markup, escape
from sqlalchemy import TextClause, event
from sqlalchemy.orm import Session

from app.core.markdown import plain_text
from app.search.service import CONTROL_CHARS, highlight

MAX_TERMS = 8
HEADLINE_CHARS = 5000
_WORD = re.compile(r"\w+", re.UNICODE)
_START, _STOP = "\x02", "\x03"
_UNSAFE = re.compile(r'[<>"\x00-\x1f]')
# Quotes, OR and a leading minus are web-search syntax: then websearch_to_tsquery reads the query.
_SYNTAX = re.compile(r'"|(?:^|\s)-\w|\bor\b', re.IGNORECASE)
# Plain words otherwise, every one required and the last one a prefix (search as you type).
PG_TSQUERY = ("(CASE WHEN :web THEN websearch_to_tsquery('english', :q) "
              "ELSE to_tsquery('english', :prefix) END)")
# Matches come back between \x02 and \x03. ts_headline reads its input as HTML and drops what
# looks like a tag, so it gets the text already escaped (entities are single tokens it keeps
# whole), with any \x02 or \x03 of the user's made blanks first: its output then holds nothing
# but pieces of that escaped text and our two markers, and only those become <mark>.
_OPTIONS = f'StartSel={_START}, StopSel={_STOP}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'
_ESCAPED = ("replace(replace(replace(replace(replace(translate(left({text}, {limit}), chr(2) || chr(3), '  '),"
            " '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '\"', '&quot;'), '''', '&#39;')")
# Markdown left in a headline of raw Markdown: links and images keep their text, emphasis and
# code marks and heading hashes go.
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*\)")
_MD_MARKS = re.compile(r"\*{1,3}|_{2,3}|`{1,3}|(?:^|(?<=\s))#{1,6}(?=\s)|~~")


def pg_headline(text_sql: str) -> str:
    """SQL for a highlighted headline of `text_sql`, and its opening and closing words (to mark cuts)."""
    escaped = _ESCAPED.format(text=text_sql, limit=HEADLINE_CHARS)
    return (f"ts_headline('english', {escaped}, {PG_TSQUERY}, '{_OPTIONS}') AS headline, "
            f"left({escaped}, 80) AS opening, right({escaped}, 80) AS closing")


def plan_for_these_words(conn) -> None:
    """Make PostgreSQL plan the next search for its actual words, not a cached generic plan.

    psycopg prepares a statement after a few runs, and PostgreSQL may then reuse one plan for
    every query. How many rows a word matches decides the plan (walk the newest rows for a word
    in most documents, use the GIN index for a rare one), so a generic plan is slow for one kind.
    Scoped to the current transaction.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def query_terms(q: str) -> list[str]:
    """Split a query into plain words: operators and quotes never reach the database."""
    return _WORD.findall(q.replace("_", " "))[:MAX_TERMS]


def pg_query_params(q: str, terms: list[str]) -> dict:
    """Return the parameters of PG_TSQUERY for a query and its words (at least one)."""
    quoted = [f"'{t}'" for t in terms]
    return {"q": CONTROL_CHARS.sub(" ", q), "web": bool(_SYNTAX.search(q)),
            "prefix": " & ".join([*quoted[:-1], quoted[-1] + ":*"])}


def result_rows(rows) -> list[SimpleNamespace]:
    """Return result rows as plain objects whose id is a UUID (SQLite hands back its text)."""
    return [SimpleNamespace(**{**row._mapping, "id": row.id if isinstance(row.id, uuid.UUID) else uuid.UUID(str(row.id))})
            for row in rows]


def fts_match(terms: list[str]) -> str:
    """Return an FTS5 MATCH expression: every word as a quoted prefix, so nothing is an operator."""
    return " ".join('"' + t + '"*' for t in terms)


def snippet(row, q: str, markdown: str) -> Markup:
    """Return a hit's safe snippet: the database's headline (PostgreSQL) or one made here."""
    if getattr(row, "headline", None) is None:
        return highlight(plain_text(markdown[:HEADLINE_CHARS]), q)
    return marked(_MD_MARKS.sub("", _MD_LINK.sub(r"\1", row.headline)), row.opening, row.closing)


def marked(headline: str, opening: str, closing: str) -> Markup:
    """Turn our match markers in an escaped headline into <mark>, and say where text was cut."""
    words = headline.replace(_START, "").replace(_STOP, "").split()
    if _UNSAFE.search(" ".join(words)):  # never from escaped input; if it were, show no marks
        headline = str(escape(" ".join(words)))
    html = " ".join(headline.replace(_START, "<mark>").replace(_STOP, "</mark>").split())
    prefix = "" if opening.split()[:3] == words[:3] else "… "
    suffix = "" if closing.split()[-3:] == words[-3:] else " …"
    return Markup(prefix + html + suffix)


REINDEX_CHUNK = 500


def reindex(session: Session, ids: Iterable[uuid.UUID], *, pg: TextClause, sqlite: tuple[TextClause, ...]) -> None:
    """Run a domain's reindex statements (each takes :ids) for these rows, inside the caller's transaction.

    PostgreSQL runs `pg` (it recomputes the stored vector); SQLite runs `sqlite` in order (delete, then
    insert the FTS5 rows).
    """
    ids = list(set(ids))
    conn = session.connection()
    statements = (pg,) if conn.dialect.name == "postgresql" else sqlite if conn.dialect.name == "sqlite" else ()
    for start in range(0, len(ids), REINDEX_CHUNK):
        for statement in statements:
            conn.execute(statement, {"ids": ids[start:start + REINDEX_CHUNK]})


def search(session: Session, q: str, limit: int, offset: int, *, pg: TextClause, sqlite: TextClause,
           cap: int) -> tuple[list[SimpleNamespace], int]:
    """Run a domain's search statements: its page of rows (see result_rows) and how many matched.

    `pg` takes PG_TSQUERY's parameters, :cap, :limit and :offset; `sqlite` takes :match, :limit and
    :offset; both return a `total` column.
    """
    terms = query_terms(q)
    if not terms:
        return [], 0
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        plan_for_these_words(conn)
        rows = conn.execute(pg, {**pg_query_params(q, terms), "cap": cap, "limit": limit, "offset": offset}).all()
    else:
        rows = conn.execute(sqlite, {"match": fts_match(terms), "limit": limit, "offset": offset}).all()
    return result_rows(rows), (rows[0].total if rows else 0)


_LISTENERS: dict[str, tuple[Callable, Callable]] = {}


def keep_current(name: str, touched: Callable[[Session], Iterable[object]],
                 reindex_ids: Callable[[Session, set[uuid.UUID]], None]) -> None:
    """Reindex, after every flush, the rows a flush touched (once per name, however often called).

    `touched(session)` runs before the flush and returns model objects (whose ids may not exist yet)
    or ids; after the flush their ids go to `reindex_ids(session, ids)`.
    """
    if name in _LISTENERS:
        return
    key = f"reindex:{name}"

    def before_flush(session: Session, flush_context, instances) -> None:
        session.info.setdefault(key, set()).update(touched(session))

    def after_flush_postexec(session: Session, flush_context) -> None:
        ids = {getattr(item, "id", item) for item in session.info.pop(key, set())}
        ids.discard(None)
        if ids:
            reindex_ids(session, ids)

    _LISTENERS[name] = (before_flush, after_flush_postexec)
    event.listen(Session, "before_flush", before_flush)
    event.listen(Session, "after_flush_postexec", after_flush_postexec)
