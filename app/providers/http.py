"""HTTP plumbing shared by the provider clients: sessions, timeouts, error mapping, guarded calls."""
from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import requests

from app.providers import stats
from app.providers.base import ProviderError, setting
from app.providers.breaker import CircuitBreaker

T = TypeVar("T")
Timeout = tuple[float, float]

USER_AGENT = "Verdant/1.0 (plant identification)"
_SECRET_PARAM = re.compile(r"((?:api-key|api_key|token|key)=)[^&\s'\"]+", re.IGNORECASE)


def make_session() -> requests.Session:
    """Build a session with Verdant's user agent and no automatic retries."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def timeout_from(settings: Mapping[str, Any]) -> Timeout:
    """Read the (connect, read) timeout pair from settings."""
    return (float(setting(settings, "PROVIDER_CONNECT_TIMEOUT")), float(setting(settings, "PROVIDER_READ_TIMEOUT")))


def redact(text: str) -> str:
    """Hide API keys that travel in query strings (Pl@ntNet, Trefle) before text reaches a log."""
    return _SECRET_PARAM.sub(r"\1***", text)


_sending = threading.local()


@contextmanager
def telling_when_sent(callback: Callable[[], None]) -> Iterator[None]:
    """Call callback() once, as this thread's next request goes out (built, and about to be written)."""
    _sending.callback = callback
    try:
        yield
    finally:
        _sending.callback = None


def send(session: requests.Session, provider: str, method: str, url: str,
         *, timeout: Timeout, **kwargs: Any) -> requests.Response:
    """Send a request, turning transport failures into ProviderError(timeout|connection)."""
    try:
        # What Session.request does, with the moment between building the request and writing it told.
        prepared = session.prepare_request(requests.Request(method, url, **kwargs))
        settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
        callback, _sending.callback = getattr(_sending, "callback", None), None
        if callback is not None:
            callback()
        return session.send(prepared, timeout=timeout, allow_redirects=True, **settings)
    except requests.Timeout as exc:
        error = ProviderError(provider, "timeout", message=redact(type(exc).__name__ + ": " + str(exc)))
    except requests.RequestException as exc:
        error = ProviderError(provider, "connection", message=redact(type(exc).__name__ + ": " + str(exc)))
    # Raised outside the handler so the requests exception (whose text holds the URL) is not chained.
    raise error


def is_success(response: requests.Response) -> bool:
    """Treat any 2xx as success (Plant.id answers 201 to a create)."""
    return 200 <= response.status_code < 300


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Read retry-after-ms or Retry-After (seconds, epoch or HTTP date) as seconds from now."""
    now = time.time() if now is None else now
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000, 0.0)
        except ValueError:
            pass
    raw = (headers.get("Retry-After") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            return max(email.utils.parsedate_to_datetime(raw).timestamp() - now, 0.0)
        except (TypeError, ValueError):
            return None
    if value > 1e12:  # an epoch in milliseconds
        value = value / 1000 - now
    elif value > 1e9:  # an epoch in seconds
        value -= now
    return max(value, 0.0)


def status_error(provider: str, response: requests.Response, message: str = "") -> ProviderError:
    """Map a non-2xx response to a ProviderError kind: 401/403 auth, 429 rate_limited, 5xx server_error."""
    status = response.status_code
    if status in (401, 403):
        kind = "auth"
    elif status == 429:
        kind = "rate_limited"
    elif status >= 500:
        kind = "server_error"
    else:
        kind = "bad_response"
    return ProviderError(provider, kind, status, redact(message)[:300],
                         retry_after=parse_retry_after(response.headers))


def json_body(provider: str, response: requests.Response) -> Any:
    """Decode a JSON body or raise ProviderError("bad_response")."""
    try:
        return response.json()
    except ValueError:
        raise ProviderError(provider, "bad_response", response.status_code, "body is not valid JSON") from None


def error_text(response: requests.Response) -> str:
    """Read an error body that may be plain text, a JSON string literal or a JSON object."""
    text = response.text.strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(decoded, str):
        return decoded[:300]
    if isinstance(decoded, dict):
        inner = decoded.get("error")
        for candidate in (decoded.get("message"), inner.get("message") if isinstance(inner, dict) else inner,
                          decoded.get("messages")):
            if isinstance(candidate, str) and candidate:
                return candidate[:300]
    return text[:300]


class Guard:
    """Run provider calls behind a circuit breaker and record their stats."""

    def __init__(self, provider: str, *, breaker: CircuitBreaker | None = None, redis: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.provider = provider
        self.breaker = breaker
        self.redis = redis
        self.clock = clock

    def run(self, func: Callable[[], T], *, quota: Callable[[T], int | None] | None = None) -> T:
        """Call func unless the circuit is open; count the outcome in the breaker and the stats."""
        trial = False
        if self.breaker is not None:
            try:
                trial = self.breaker.before_call()
            except ProviderError:
                if self.redis is not None:
                    stats.record_rejected(self.redis, self.provider, clock=self.clock)
                raise
        started = time.perf_counter()
        try:
            result = func()
        except Exception as exc:
            if self.breaker is not None:
                self.breaker.record_failure(exc, trial=trial)
            self._record(started, ok=False, error_kind=getattr(exc, "kind", type(exc).__name__))
            raise
        if self.breaker is not None:
            self.breaker.record_success(trial=trial)
        self._record(started, ok=True, quota_remaining=quota(result) if quota else None)
        return result

    def _record(self, started: float, *, ok: bool, quota_remaining: int | None = None,
                error_kind: str | None = None) -> None:
        if self.redis is not None:
            stats.record_call(self.redis, self.provider, ok=ok, latency_ms=(time.perf_counter() - started) * 1000,
                              quota_remaining=quota_remaining, error_kind=error_kind, clock=self.clock)


def parse_guard(provider: str, parse: Callable[[Any], T], payload: Any) -> T:
    """Run a parser over a decoded body, turning shape errors into ProviderError("bad_response")."""
    try:
        return parse(payload)
    except ProviderError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ProviderError(provider, "bad_response", message=f"unexpected response shape: {exc!r}"[:300]) from exc


class ProviderClient:
    """What every provider client shares: its key, base URL, timeouts, breaker and session."""

    name: str
    key_setting: str
    url_setting: str
    default_base_url: str
    default_timeout: Timeout = (3.05, 20.0)

    def __init__(self, api_key: str, *, base_url: str | None = None, timeout: Timeout | None = None,
                 breaker: CircuitBreaker | None = None, redis: Any = None,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        if not api_key:
            raise ProviderError(self.name, "not_configured", message=f"{self.key_setting} is not set")
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout = timeout or self.default_timeout
        self.breaker = breaker
        self._api_key = api_key
        self._owns_session = session is None
        self.session = session or make_session()
        self._guard = Guard(self.name, breaker=breaker, redis=redis, clock=clock)

    @classmethod
    def options_from(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Read the client's own settings beyond key, URL and timeouts (subclasses add theirs)."""
        return {"timeout": timeout_from(settings)}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], redis: Any = None,
                      *, clock: Callable[[], float] = time.time):
        """Build the client, with a Redis-shared breaker when redis is given."""
        breaker = (CircuitBreaker.from_settings(settings, redis, cls.name, clock=clock)
                   if redis is not None else None)
        return cls(setting(settings, cls.key_setting), base_url=setting(settings, cls.url_setting),
                   breaker=breaker, redis=redis, clock=clock, **cls.options_from(settings))

    def close(self) -> None:
        """Release pooled connections."""
        if self._owns_session:
            self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
