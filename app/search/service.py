"""One search across the site: ask every registered source and group what they find."""
import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field

from flask import current_app, has_app_context
from markupsafe import Markup, escape
from redis.exceptions import RedisError

from app.core import messages
from app.core.redis import get_redis
from app.search.base import SearchHit, SearchSource, search_sources

MAX_QUERY_LENGTH = 200
MIN_SUGGEST_LENGTH = 2
PAGE_SIZE = 10
SUGGEST_LIMIT = 3
_WORD = re.compile(r"\w+", re.UNICODE)
# Control characters mean nothing in a query, and PostgreSQL refuses a NUL in any text value.
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
CACHE_TTL = 60
_CACHE_KEY = "verdant:search:v{version}:{kind}:{order}:{limit}:{offset}:{digest}"
_VERSION_KEY = "verdant:search:version"


@dataclass
class SearchGroup:
    """The hits one source found for one page."""

    source: SearchSource
    hits: list[SearchHit]
    total: int


@dataclass
class SearchResults:
    """Grouped results of one search, with the query as it was run and any notice about it."""

    query: str
    page: int = 1
    kinds: list[str] | None = None
    groups: list[SearchGroup] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(group.total for group in self.groups)

    @property
    def has_next(self) -> bool:
        return any(group.total > self.page * PAGE_SIZE for group in self.groups)


def clean_query(q: str | None) -> tuple[str, list[str]]:
    """Return the query trimmed to its limit, with a notice when we had to cut it."""
    q = " ".join(CONTROL_CHARS.sub(" ", q or "").split())
    if len(q) > MAX_QUERY_LENGTH:
        return q[:MAX_QUERY_LENGTH].rstrip(), [messages.SEARCH_TRIMMED.format(limit=MAX_QUERY_LENGTH)]
    return q, []


def search(q: str | None, kinds: list[str] | None = None, page: int = 1,
           per_page: int = PAGE_SIZE) -> SearchResults:
    """Search every registered source (or only `kinds`) and group the hits by source."""
    query, notices = clean_query(q)
    page = max(1, page)
    known = {source.kind for source in search_sources()}
    wanted = [kind for kind in (kinds or []) if kind in known] or None
    results = SearchResults(query=query, page=page, kinds=wanted, notices=notices)
    if not _WORD.search(query):
        return results
    for source in search_sources():
        if wanted and source.kind not in wanted:
            continue
        hits, total = _cached_search(source, query, per_page, (page - 1) * per_page)
        if total:
            results.groups.append(SearchGroup(source, hits, total))
    return results


def _cached_search(source: SearchSource, query: str, limit: int, offset: int) -> tuple[list[SearchHit], int]:
    # Results are the same for every reader (sources offer only public content), and the same few
    # queries arrive again and again while people type, so one source's answer is kept briefly.
    ttl = current_app.config.get("SEARCH_CACHE_TTL", CACHE_TTL)
    if not ttl:
        return _as_markup(*source.search(query, limit, offset))
    redis = get_redis()
    try:
        version = int(redis.get(_VERSION_KEY) or 0)
        key = _CACHE_KEY.format(version=version, kind=source.kind, order=source.order, limit=limit,
                                offset=offset, digest=hashlib.sha256(query.casefold().encode()).hexdigest()[:32])
        cached = redis.get(key)
    except RedisError:
        return _as_markup(*source.search(query, limit, offset))
    if cached is not None:
        data = json.loads(cached)
        return _as_markup([SearchHit(**hit) for hit in data["hits"]], data["total"])
    hits, total = _as_markup(*source.search(query, limit, offset))
    payload = json.dumps({"hits": [{**asdict(h), "snippet": str(h.snippet)} for h in hits], "total": total})
    try:
        redis.set(key, payload, ex=ttl)
    except RedisError:
        pass
    return hits, total


def _as_markup(hits: list[SearchHit], total: int) -> tuple[list[SearchHit], int]:
    # The contract says snippets are safe HTML; some sources hand them over as plain str.
    return [h if isinstance(h.snippet, Markup) else SearchHit(h.kind, h.title, h.url, Markup(h.snippet), h.score)
            for h in hits], total


def invalidate_cache() -> None:
    """Make every cached search answer stale (content that search finds has changed)."""
    try:
        redis = get_redis()
        redis.incr(_VERSION_KEY)
        redis.expire(_VERSION_KEY, 7 * 24 * 3600)
    except RedisError:
        pass


def note_searchable_change(session, flush_context, instances) -> None:
    """Session hook: remember that this transaction wrote something a search source shows."""
    models = _searchable_models()
    if models and any(isinstance(obj, models) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info["search_changed"] = True


def note_searchable_statement(state) -> None:
    """Session hook: bulk INSERT/UPDATE/DELETE statements count as changes too."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    models = _searchable_models()
    mapper = state.bind_mapper
    if models and mapper is not None and issubclass(mapper.class_, models):
        state.session.info["search_changed"] = True


def invalidate_after_commit(session) -> None:
    """Session hook: after a commit that changed searchable content, drop cached answers."""
    if session.info.pop("search_changed", False):
        invalidate_cache()


def _searchable_models() -> tuple[type, ...]:
    if not has_app_context():
        return ()
    return tuple(m for source in current_app.extensions.get("search_sources", []) for m in source.models)


def suggest(q: str | None, limit: int = SUGGEST_LIMIT) -> SearchResults:
    """Return the top few hits of each source for search-as-you-type; nothing under 2 characters."""
    query, _ = clean_query(q)
    if len(query) < MIN_SUGGEST_LENGTH:
        return SearchResults(query=query)
    return search(query, per_page=limit)


def _fold(ch: str) -> str:
    base = unicodedata.normalize("NFKD", ch)[:1] or ch
    return base.casefold()[:1] or ch


def highlight(text: str, query: str, width: int = 180) -> Markup:
    """Escape `text`, cut it to about `width` characters around the first match, and <mark> matches."""
    text = " ".join((text or "").split())
    terms = sorted({_fold_all(t) for t in _WORD.findall(query) if t}, key=len, reverse=True)
    folded = _fold_all(text)
    spans = []
    if terms:
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\w*")
        spans = [m.span() for m in pattern.finditer(folded)]
    start = 0
    if len(text) > width:
        first = spans[0][0] if spans else 0
        start = max(0, min(first - width // 3, len(text) - width))
        while start > 0 and not text[start - 1].isspace():
            start -= 1
    end = min(len(text), start + width)
    out, cursor = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(escape(text[cursor:s]))
        out.append(Markup("<mark>") + escape(text[s:e]) + Markup("</mark>"))
        cursor = e
    out.append(escape(text[cursor:end]))
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    return Markup(prefix) + Markup("").join(out) + Markup(suffix)


def _fold_all(text: str) -> str:
    # One output character per input character, so match positions map back onto the original.
    return "".join(_fold(ch) for ch in text)
