"""Helpers the domains' full-text indexes share: safe query terms and highlighted headlines."""
import re

from markupsafe import Markup, escape
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.search.service import CONTROL_CHARS as _CONTROL
from app.search.service import highlight

MAX_TERMS = 8
HEADLINE_CHARS = 5000
_WORD = re.compile(r"\w+", re.UNICODE)
_START, _STOP = "\x02", "\x03"
_UNSAFE = re.compile(r'[<>"]')
# Quotes, OR and a leading minus are web-search syntax: then websearch_to_tsquery reads the query.
_SYNTAX = re.compile(r'"|(?:^|\s)-\w|\bor\b', re.IGNORECASE)
# Plain words otherwise, every one required and the last one a prefix (search as you type).
PG_TSQUERY = ("(CASE WHEN :web THEN websearch_to_tsquery('english', :q) "
              "ELSE to_tsquery('english', :prefix) END)")
# Matches come back between \x02 and \x03, characters user text cannot carry (stripped below),
# so escaping the whole headline and then turning only those two into <mark> keeps it safe.
_OPTIONS = f'StartSel={_START}, StopSel={_STOP}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'
_PG_HEADLINES = text(f"""
SELECT ts_headline('english', t.body, {PG_TSQUERY}, :options)
FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY AS t(body, n) ORDER BY t.n
""")


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
    return {"q": _CONTROL.sub(" ", q), "web": bool(_SYNTAX.search(q)),
            "prefix": " & ".join([*quoted[:-1], quoted[-1] + ":*"])}


def fts_match(terms: list[str]) -> str:
    """Return an FTS5 MATCH expression: every word as a quoted prefix, so nothing is an operator."""
    return " ".join('"' + t + '"*' for t in terms)


def headlines(session: Session, q: str, texts: list[str]) -> list[Markup]:
    """Return a safe snippet of each plain text with the query's words in <mark>, stemmed on PostgreSQL."""
    texts = [_CONTROL.sub(" ", t or "").replace(_START, " ").replace(_STOP, " ")[:HEADLINE_CHARS]
             for t in texts]
    terms = query_terms(q)
    if not texts or not terms or session.connection().dialect.name != "postgresql":
        return [highlight(t, q) for t in texts]
    # ts_headline reads its input as HTML and drops what looks like a tag, so it gets the text
    # already escaped: entities are single tokens it keeps whole, and the output holds nothing
    # but pieces of that escaped text and our two markers.
    escaped = [" ".join(str(escape(t)).split()) for t in texts]
    rows = session.connection().execute(_PG_HEADLINES, {**pg_query_params(q, terms), "texts": escaped,
                                                        "options": _OPTIONS}).scalars().all()
    return [marked(row, full) for row, full in zip(rows, escaped)]


def marked(headline: str, full: str) -> Markup:
    """Turn our match markers in an escaped headline into <mark>, and say where text was cut."""
    if _UNSAFE.search(headline):
        headline = str(escape(headline))
    html = " ".join(headline.replace(_START, "<mark>").replace(_STOP, "</mark>").split())
    words = headline.replace(_START, "").replace(_STOP, "").split()
    prefix = "" if full.split()[:3] == words[:3] else "… "
    suffix = "" if full.split()[-3:] == words[-3:] else " …"
    return Markup(prefix + html + suffix)
