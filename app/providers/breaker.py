"""Circuit breaker whose state lives in Redis, so every web process and worker shares it.

pybreaker's CircuitRedisStorage was not used: it reads the wall clock itself (no injectable
clock), stores the opening time in whole seconds, lets every process run a trial call at
once while half-open, and has no "open now for N seconds".
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from redis.exceptions import RedisError, WatchError

from app.providers.base import ProviderError, setting

log = logging.getLogger(__name__)
T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN, UNKNOWN = "closed", "open", "half-open", "unknown"
# A bad key or an exhausted quota will not heal by retrying, so these open the circuit at once.
OPEN_AT_ONCE = frozenset({"auth", "rate_limited"})
MAX_OPEN_SECONDS = 24 * 3600.0


def _number(raw: Any) -> float | None:
    if raw is None:
        return None
    return float(raw.decode() if isinstance(raw, bytes) else raw)


class CircuitBreaker:
    """Fail fast after repeated provider failures; state shared through Redis."""

    def __init__(self, redis: Any, provider: str, *, fail_max: int = 5, reset_timeout: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        if fail_max < 1:
            raise ValueError("fail_max must be at least 1")
        self.redis = redis
        self.provider = provider
        self.fail_max = fail_max
        self.reset_timeout = float(reset_timeout)
        self.clock = clock
        prefix = f"verdant:breaker:{provider}"
        self._failures_key = f"{prefix}:failures"
        self._open_until_key = f"{prefix}:open_until"
        self._trial_key = f"{prefix}:trial"

    @classmethod
    def from_settings(cls, settings: Any, redis: Any, provider: str,
                      *, clock: Callable[[], float] = time.time) -> CircuitBreaker:
        """Build a breaker from BREAKER_FAIL_MAX and BREAKER_RESET_TIMEOUT."""
        return cls(redis, provider, fail_max=int(setting(settings, "BREAKER_FAIL_MAX")),
                   reset_timeout=float(setting(settings, "BREAKER_RESET_TIMEOUT")), clock=clock)

    @property
    def state(self) -> str:
        """Return "closed", "open" or "half-open" ("unknown" while Redis is unreachable)."""
        try:
            open_until = _number(self.redis.get(self._open_until_key))
        except RedisError:
            log.warning("breaker state unavailable", extra={"provider": self.provider})
            return UNKNOWN
        if open_until is None:
            return CLOSED
        return OPEN if self.clock() < open_until else HALF_OPEN

    @property
    def failure_count(self) -> int:
        """Return the number of consecutive failures counted while closed."""
        try:
            return int(_number(self.redis.get(self._failures_key)) or 0)
        except RedisError:
            return 0

    @property
    def open_until(self) -> float | None:
        """Return the clock time until which calls fail fast, or None when closed."""
        try:
            return _number(self.redis.get(self._open_until_key))
        except RedisError:
            return None

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run func under the breaker: fail fast while open, count its failures, close on success."""
        trial = self.before_call()
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            self.record_failure(exc, trial=trial)
            raise
        self.record_success(trial=trial)
        return result

    def before_call(self) -> bool:
        """Raise ProviderError("circuit_open") unless a call may go ahead; True for a half-open trial."""
        try:
            return self._admit()
        except RedisError:
            # A breaker must not turn a Redis outage into a provider outage.
            log.warning("breaker storage unavailable, letting the call through",
                        extra={"provider": self.provider})
            return False

    def _admit(self) -> bool:
        # Closed, as it nearly always is: one read before the call. Only an open circuit needs the
        # watched transaction that lets a single caller through as the half-open trial.
        if self.redis.get(self._open_until_key) is None:
            return False
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(self._open_until_key, self._trial_key)
                open_until = _number(pipe.get(self._open_until_key))
                if open_until is None:
                    return False
                now = self.clock()
                if now < open_until:
                    raise self._open_error(open_until - now)
                trial_at = _number(pipe.get(self._trial_key))
                # A trial that never reported back (crashed worker) expires after reset_timeout.
                if trial_at is not None and now < trial_at + self.reset_timeout:
                    raise self._open_error(trial_at + self.reset_timeout - now)
                pipe.multi()
                pipe.set(self._trial_key, repr(now))
                pipe.execute()
            except WatchError:
                raise self._open_error(self.reset_timeout) from None
        return True

    def _open_error(self, retry_after: float) -> ProviderError:
        return ProviderError(self.provider, "circuit_open", message="circuit breaker is open",
                             retry_after=max(retry_after, 0.0))

    def record_success(self, *, trial: bool = False) -> None:
        """Count a successful call: reset the failure streak, and close the circuit after a trial."""
        try:
            if trial:
                self.redis.delete(self._failures_key, self._open_until_key, self._trial_key)
            else:
                # Only the streak: a slow success must not close a circuit opened meanwhile.
                self.redis.delete(self._failures_key)
        except RedisError:
            log.warning("breaker storage unavailable", extra={"provider": self.provider})

    def record_failure(self, error: BaseException | None = None, *, trial: bool = False) -> None:
        """Count a failed call; open the circuit at fail_max, after a failed trial, or at once on auth/429."""
        try:
            if isinstance(error, ProviderError) and error.kind in OPEN_AT_ONCE:
                self.open_now(error.retry_after)
            elif trial:
                self.open_now()
            elif self.redis.incr(self._failures_key) >= self.fail_max:
                with self.redis.pipeline() as pipe:
                    # nx: another process may have opened it already; keep its deadline.
                    pipe.set(self._open_until_key, repr(self.clock() + self.reset_timeout), nx=True)
                    pipe.delete(self._failures_key, self._trial_key)
                    pipe.execute()
                log.warning("circuit opened", extra={"provider": self.provider, "reason": "fail_max"})
        except RedisError:
            log.warning("breaker storage unavailable", extra={"provider": self.provider})

    def open_now(self, for_seconds: float | None = None) -> None:
        """Open the circuit at once, for for_seconds (default reset_timeout, capped at a day)."""
        duration = self.reset_timeout if for_seconds is None else min(max(for_seconds, 0.0), MAX_OPEN_SECONDS)
        with self.redis.pipeline() as pipe:
            pipe.set(self._open_until_key, repr(self.clock() + duration))
            pipe.delete(self._failures_key, self._trial_key)
            pipe.execute()
        log.warning("circuit opened", extra={"provider": self.provider, "seconds": duration})

    def reset(self) -> None:
        """Close the circuit and forget the failure streak."""
        self.redis.delete(self._failures_key, self._open_until_key, self._trial_key)
