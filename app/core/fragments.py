"""HTML that every signed-out reader sees alike, kept in Redis under a versioned scope.

A writer bumps its scope's version, so HTML rendered from data older than the latest write is
filed under an old version and never served again; the TTL only bounds memory and staleness of
changes made outside the services (bulk counters, direct SQL).
"""
from collections.abc import Callable

from app.core.redis import get_redis

_FRAGMENTS_KEY = "verdant:fragments:{}"
_VERSION_KEY = "verdant:fragments:version:{}"
DEFAULT_TTL = 120


def cached_fragment(scope: str, name: str, render: Callable[[], str], *, ttl: int = DEFAULT_TTL) -> str:
    """Return the HTML called `name` in `scope`, from Redis or freshly rendered and stored."""
    redis = get_redis()
    # Read the version before rendering: a write racing the render files it under the old one.
    version = int(redis.get(_VERSION_KEY.format(scope)) or 0)
    key = _FRAGMENTS_KEY.format(scope)
    field = f"{name}:v{version}"
    html = redis.hget(key, field)
    if html is not None:
        return html.decode()
    html = render()
    with redis.pipeline() as pipe:
        pipe.hset(key, field, html)
        pipe.expire(key, ttl)
        pipe.execute()
    return html


def invalidate(*scopes: str) -> None:
    """Make every fragment cached in these scopes stale."""
    with get_redis().pipeline() as pipe:
        for scope in scopes:
            pipe.incr(_VERSION_KEY.format(scope))
            pipe.expire(_VERSION_KEY.format(scope), 7 * 24 * 3600)
            pipe.delete(_FRAGMENTS_KEY.format(scope))
        pipe.execute()
