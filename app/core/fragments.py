"""HTML that every signed-out reader sees alike, kept in Redis under a versioned scope.

A writer bumps its scope's version, so HTML rendered from data older than the latest write is
filed under an old version and never served again; the TTL only bounds memory and staleness of
changes made outside the services (bulk counters, direct SQL).

When a fragment is missing (expired, or its scope just written), one reader renders it and the
readers arriving meanwhile wait for that render rather than all rendering at once: a busy page's
cache expiring every half minute would otherwise cost a burst of identical renders each time.
"""
import time
from collections.abc import Callable

from app.core.redis import get_redis

_FRAGMENTS_KEY = "verdant:fragments:{}"
_VERSION_KEY = "verdant:fragments:version:{}"
_RENDER_KEY = "verdant:fragments:rendering:{}:{}"
DEFAULT_TTL = 120
# A reader waits this long for another's render before rendering for itself (a renderer that died
# holds its claim only RENDER_CLAIM_MS), looking every WAIT_STEP_SECONDS.
WAIT_SECONDS = 1.0
WAIT_STEP_SECONDS = 0.01
RENDER_CLAIM_MS = 5000
# Version and HTML in one round trip: on a busy page this is most of the cache's cost.
_LOOKUP = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('HGET', KEYS[2], ARGV[1] .. ':v' .. version)}
"""


def cached_fragment(scope: str, name: str, render: Callable[[], str], *, ttl: int = DEFAULT_TTL) -> str:
    """Return the HTML called `name` in `scope`, from Redis or freshly rendered and stored."""
    redis = get_redis()
    key = _FRAGMENTS_KEY.format(scope)
    # The version is read before rendering: a write racing the render files it under the old one.
    version, html = redis.register_script(_LOOKUP)(keys=[_VERSION_KEY.format(scope), key], args=[name])
    if html:
        return html.decode()
    field = f"{name}:v{int(version)}"
    claim = _RENDER_KEY.format(scope, field)
    if not redis.set(claim, "1", nx=True, px=RENDER_CLAIM_MS):
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP_SECONDS)
            html = redis.hget(key, field)
            if html:
                return html.decode()
    try:
        html = render()
    except BaseException:
        redis.delete(claim)  # the readers waiting on this render now render for themselves
        raise
    with redis.pipeline() as pipe:
        pipe.hset(key, field, html)
        pipe.expire(key, ttl)
        pipe.delete(claim)
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
