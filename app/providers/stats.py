"""Per-provider call statistics in Redis for the admin status panel and metrics."""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

LATENCY_SAMPLES = 500
DAY_KEY_TTL = 8 * 24 * 3600  # a week of daily counters for charts, plus slack


def _prefix(provider: str) -> str:
    return f"verdant:stats:{provider}"


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%d")


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def record_call(redis: Any, provider: str, *, ok: bool, latency_ms: float,
                quota_remaining: int | None = None, error_kind: str | None = None,
                clock: Callable[[], float] = time.time) -> None:
    """Count one provider call (and its latency, error and quota); never raise for Redis trouble."""
    now = clock()
    prefix, day = _prefix(provider), _day(now)
    try:
        with redis.pipeline(transaction=False) as pipe:
            pipe.incr(f"{prefix}:calls:{day}")
            pipe.expire(f"{prefix}:calls:{day}", DAY_KEY_TTL)
            if not ok:
                pipe.incr(f"{prefix}:errors:{day}")
                pipe.expire(f"{prefix}:errors:{day}", DAY_KEY_TTL)
                pipe.hset(f"{prefix}:last_error", mapping={"kind": error_kind or "unknown", "at": repr(now)})
            pipe.lpush(f"{prefix}:latency", f"{latency_ms:.1f}")
            pipe.ltrim(f"{prefix}:latency", 0, LATENCY_SAMPLES - 1)
            pipe.execute()
    except RedisError:
        log.warning("provider stats unavailable", extra={"provider": provider})
    if quota_remaining is not None:
        record_quota(redis, provider, quota_remaining, clock=clock)


def record_rejected(redis: Any, provider: str, *, clock: Callable[[], float] = time.time) -> None:
    """Count a call the open circuit breaker refused without contacting the provider."""
    key = f"{_prefix(provider)}:rejected:{_day(clock())}"
    try:
        with redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, DAY_KEY_TTL)
            pipe.execute()
    except RedisError:
        log.warning("provider stats unavailable", extra={"provider": provider})


def record_quota(redis: Any, provider: str, remaining: int,
                 *, clock: Callable[[], float] = time.time) -> None:
    """Remember the provider's last reported remaining quota."""
    try:
        redis.hset(f"{_prefix(provider)}:quota", mapping={"remaining": int(remaining), "at": repr(clock())})
    except RedisError:
        log.warning("provider stats unavailable", extra={"provider": provider})


def percentile(samples: Sequence[float], pct: float) -> float | None:
    """Return the nearest-rank percentile of samples, or None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def provider_status(redis: Any, provider: str, breaker_state: str,
                    *, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Summarise a provider for the admin panel: breaker, today's calls and errors, latency, quota."""
    prefix, day = _prefix(provider), _day(clock())
    try:
        with redis.pipeline(transaction=False) as pipe:
            pipe.get(f"{prefix}:calls:{day}")
            pipe.get(f"{prefix}:errors:{day}")
            pipe.get(f"{prefix}:rejected:{day}")
            pipe.lrange(f"{prefix}:latency", 0, LATENCY_SAMPLES - 1)
            pipe.hgetall(f"{prefix}:quota")
            pipe.hgetall(f"{prefix}:last_error")
            calls, errors, rejected, latency, quota, last_error = pipe.execute()
        available = True
    except RedisError:
        log.warning("provider stats unavailable", extra={"provider": provider})
        calls = errors = rejected = None
        latency, quota, last_error, available = [], {}, {}, False
    calls_today, errors_today = int(_text(calls) or 0), int(_text(errors) or 0)
    samples = [float(_text(v) or 0) for v in latency]
    quota = {_text(k): _text(v) for k, v in quota.items()}
    last_error = {_text(k): _text(v) for k, v in last_error.items()}
    return {
        "provider": provider,
        "available": available,
        "breaker": breaker_state,
        "calls_today": calls_today,
        "errors_today": errors_today,
        "rejected_today": int(_text(rejected) or 0),
        "error_rate": errors_today / calls_today if calls_today else 0.0,
        "latency_p50_ms": percentile(samples, 50),
        "latency_p95_ms": percentile(samples, 95),
        "latency_samples": len(samples),
        "quota_remaining": int(quota["remaining"]) if "remaining" in quota else None,
        "quota_updated_at": float(quota["at"]) if "at" in quota else None,
        "last_error_kind": last_error.get("kind"),
        "last_error_at": float(last_error["at"]) if "at" in last_error else None,
    }
