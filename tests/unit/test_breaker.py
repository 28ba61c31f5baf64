"""Redis-shared circuit breaker (and the provider stats shown beside it)."""
import pickle

import fakeredis
import pytest

from app.providers import stats
from app.providers.base import ImageInput, ProviderError
from app.providers.breaker import CircuitBreaker
from app.providers.plantnet import PlantNetProvider

FAIL_MAX = 3
RESET = 30.0


@pytest.fixture
def breaker(redis, clock):
    return CircuitBreaker(redis, "plantnet", fail_max=FAIL_MAX, reset_timeout=RESET, clock=clock)


@pytest.fixture
def plantnet(fake, redis, clock):
    settings = {**fake.settings, "BREAKER_FAIL_MAX": FAIL_MAX, "BREAKER_RESET_TIMEOUT": RESET,
                "PROVIDER_READ_TIMEOUT": 5}
    client = PlantNetProvider.from_settings(settings, redis, clock=clock)
    yield client
    client.close()


def fail(kind="server_error", **extra):
    def call():
        raise ProviderError("plantnet", kind, **extra)
    return call


def test_breaker_opens_after_fail_max_consecutive_failures(breaker):
    for _ in range(FAIL_MAX - 1):
        with pytest.raises(ProviderError):
            breaker.call(fail())
    assert breaker.state == "closed"
    with pytest.raises(ProviderError):
        breaker.call(fail())
    assert breaker.state == "open"


def test_breaker_success_resets_the_failure_streak(breaker):
    for _ in range(FAIL_MAX - 1):
        with pytest.raises(ProviderError):
            breaker.call(fail())
    assert breaker.call(lambda: "ok") == "ok"
    for _ in range(FAIL_MAX - 1):
        with pytest.raises(ProviderError):
            breaker.call(fail())
    assert breaker.state == "closed"
    assert breaker.failure_count == FAIL_MAX - 1


def test_breaker_open_fails_fast_without_calling(breaker):
    breaker.open_now()
    calls = []
    with pytest.raises(ProviderError) as error:
        breaker.call(lambda: calls.append(1))
    assert error.value.kind == "circuit_open"
    assert error.value.retry_after == pytest.approx(RESET)
    assert calls == []


def test_breaker_open_makes_no_http_call(fake, plantnet):
    fake.set_mode("plantnet", "500")
    for _ in range(FAIL_MAX):
        with pytest.raises(ProviderError) as error:
            plantnet.identify([ImageInput(b"leaf")])
        assert error.value.kind == "server_error"
    assert plantnet.breaker.state == "open"
    assert fake.hits("plantnet") == FAIL_MAX

    with pytest.raises(ProviderError) as error:
        plantnet.identify([ImageInput(b"leaf")])
    assert error.value.kind == "circuit_open"
    assert fake.hits("plantnet") == FAIL_MAX


def test_breaker_counts_parse_errors_as_failures(fake, plantnet):
    fake.set_mode("plantnet", "bad_json")
    for _ in range(FAIL_MAX):
        with pytest.raises(ProviderError) as error:
            plantnet.identify([ImageInput(b"leaf")])
        assert error.value.kind == "bad_response"
    assert plantnet.breaker.state == "open"


def test_breaker_counts_unexpected_exceptions_as_failures(breaker):
    for _ in range(FAIL_MAX):
        with pytest.raises(KeyError):
            breaker.call(lambda: {}["result"])
    assert breaker.state == "open"


def test_breaker_ignores_species_not_found(fake, plantnet):
    fake.set_mode("plantnet", "not_found")
    for _ in range(FAIL_MAX + 1):
        assert plantnet.identify([ImageInput(b"rock")]).suggestions == ()
    assert plantnet.breaker.state == "closed"
    assert plantnet.breaker.failure_count == 0


def test_a_closed_breaker_admits_a_call_with_one_read(redis, clock):
    used = []

    class Recording:
        def __getattr__(self, name):
            used.append(name)
            return getattr(redis, name)

    breaker = CircuitBreaker(Recording(), "plantnet", fail_max=FAIL_MAX, reset_timeout=RESET, clock=clock)
    assert breaker.before_call() is False
    # No watched transaction before every provider call: that is only for an open circuit's trial.
    assert used == ["get"]


def test_breaker_half_opens_after_reset_timeout(breaker, clock):
    breaker.open_now()
    clock.advance(RESET - 0.1)
    assert breaker.state == "open"
    clock.advance(0.2)
    assert breaker.state == "half-open"


def test_breaker_half_open_allows_one_trial_at_a_time(breaker, clock):
    breaker.open_now()
    clock.advance(RESET)
    seen = []

    def trial():
        with pytest.raises(ProviderError) as concurrent:
            breaker.call(lambda: seen.append("second"))
        seen.append(concurrent.value.kind)
        return "ok"

    assert breaker.call(trial) == "ok"
    assert seen == ["circuit_open"]
    assert breaker.state == "closed"


def test_breaker_failed_trial_reopens_for_another_timeout(breaker, clock):
    breaker.open_now()
    clock.advance(RESET)
    with pytest.raises(ProviderError):
        breaker.call(fail("timeout"))
    assert breaker.state == "open"
    clock.advance(RESET - 1)
    assert breaker.state == "open"
    clock.advance(1)
    assert breaker.state == "half-open"


def test_breaker_abandoned_trial_is_retried_after_reset_timeout(breaker, clock):
    breaker.open_now()
    clock.advance(RESET)
    assert breaker.before_call() is True  # a worker took the trial and died
    with pytest.raises(ProviderError):
        breaker.before_call()
    clock.advance(RESET)
    assert breaker.before_call() is True


@pytest.mark.parametrize("mode, kind", [("429", "rate_limited"), ("401", "auth")])
def test_breaker_opens_at_once_on_quota_or_auth_errors(fake, plantnet, mode, kind):
    fake.set_mode("plantnet", mode)
    with pytest.raises(ProviderError) as error:
        plantnet.identify([ImageInput(b"leaf")])
    assert error.value.kind == kind
    assert plantnet.breaker.state == "open"
    with pytest.raises(ProviderError) as error:
        plantnet.identify([ImageInput(b"leaf")])
    assert error.value.kind == "circuit_open"
    assert fake.hits("plantnet") == 1


def test_breaker_opens_at_once_on_403(breaker):
    with pytest.raises(ProviderError):
        breaker.call(fail("auth", status=403))
    assert breaker.state == "open"


def test_breaker_stays_open_for_retry_after(breaker, clock):
    with pytest.raises(ProviderError):
        breaker.call(fail("rate_limited", status=429, retry_after=300.0))
    clock.advance(RESET + 1)
    assert breaker.state == "open"
    clock.advance(300)
    assert breaker.state == "half-open"


def test_breaker_state_is_shared_between_processes(redis, clock):
    web = CircuitBreaker(redis, "plantid", fail_max=2, reset_timeout=RESET, clock=clock)
    worker = CircuitBreaker(redis, "plantid", fail_max=2, reset_timeout=RESET, clock=clock)
    with pytest.raises(ProviderError):
        web.call(fail())
    with pytest.raises(ProviderError):
        worker.call(fail())
    assert web.state == worker.state == "open"
    assert CircuitBreaker(redis, "plantnet", clock=clock).state == "closed"


def test_breaker_keys_are_namespaced(breaker, redis):
    with pytest.raises(ProviderError):
        breaker.call(fail())
    breaker.open_now()
    assert {key.decode() for key in redis.keys("*")} <= {
        "verdant:breaker:plantnet:failures", "verdant:breaker:plantnet:open_until",
        "verdant:breaker:plantnet:trial"}
    assert redis.exists("verdant:breaker:plantnet:open_until")


def test_breaker_lets_calls_through_when_redis_is_down(clock):
    server = fakeredis.FakeServer()
    server.connected = False
    down = fakeredis.FakeRedis(server=server)
    breaker = CircuitBreaker(down, "plantid", fail_max=1, clock=clock)
    assert breaker.state == "unknown"
    with pytest.raises(ProviderError) as error:
        breaker.call(fail())
    assert error.value.kind == "server_error"
    assert breaker.call(lambda: "ok") == "ok"


def test_provider_error_survives_pickling_with_its_attributes():
    error = ProviderError("openai", "rate_limited", 429, "quota", retry_after=None, retryable=False)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.provider, copy.kind, copy.status, copy.message, copy.retryable) == (
        "openai", "rate_limited", 429, "quota", False)


def test_provider_error_rejects_unknown_kinds():
    with pytest.raises(ValueError):
        ProviderError("plantid", "exploded")


def test_stats_record_calls_errors_latency_and_quota(redis, clock):
    stats.record_call(redis, "plantnet", ok=True, latency_ms=100, quota_remaining=480, clock=clock)
    stats.record_call(redis, "plantnet", ok=True, latency_ms=300, clock=clock)
    stats.record_call(redis, "plantnet", ok=False, latency_ms=200, error_kind="timeout", clock=clock)
    stats.record_rejected(redis, "plantnet", clock=clock)
    status = stats.provider_status(redis, "plantnet", "closed", clock=clock)
    assert status["calls_today"] == 3
    assert status["errors_today"] == 1
    assert status["rejected_today"] == 1
    assert status["error_rate"] == pytest.approx(1 / 3)
    assert (status["latency_p50_ms"], status["latency_p95_ms"]) == (200.0, 300.0)
    assert status["quota_remaining"] == 480
    assert status["last_error_kind"] == "timeout"
    assert status["breaker"] == "closed"


def test_stats_daily_counters_roll_over_at_utc_midnight(redis, clock):
    clock.now = 1_800_057_599.0  # 23:59:59 UTC
    stats.record_call(redis, "plantid", ok=True, latency_ms=1, clock=clock)
    clock.advance(1)
    assert stats.provider_status(redis, "plantid", "closed", clock=clock)["calls_today"] == 0
    assert 0 < redis.ttl("verdant:stats:plantid:calls:2027-01-15") <= stats.DAY_KEY_TTL


def test_stats_keep_only_the_latest_latency_samples(redis, clock):
    for i in range(stats.LATENCY_SAMPLES + 20):
        stats.record_call(redis, "plantid", ok=True, latency_ms=i, clock=clock)
    status = stats.provider_status(redis, "plantid", "closed", clock=clock)
    assert status["latency_samples"] == stats.LATENCY_SAMPLES
    assert status["latency_p50_ms"] == pytest.approx(20 + stats.LATENCY_SAMPLES / 2 - 1)


def test_stats_report_unavailable_when_redis_is_down(clock):
    server = fakeredis.FakeServer()
    server.connected = False
    down = fakeredis.FakeRedis(server=server)
    stats.record_call(down, "plantid", ok=True, latency_ms=5, quota_remaining=3, clock=clock)
    status = stats.provider_status(down, "plantid", "unknown", clock=clock)
    assert (status["available"], status["calls_today"], status["quota_remaining"]) == (False, 0, None)


def test_stats_of_an_unused_provider_are_empty(redis, clock):
    status = stats.provider_status(redis, "trefle", "closed", clock=clock)
    assert status["available"] is True
    assert status["calls_today"] == 0
    assert status["latency_p50_ms"] is None
    assert status["quota_remaining"] is None


def test_stats_count_rejected_calls_without_a_provider_call(fake, plantnet, redis, clock):
    plantnet.breaker.open_now()
    with pytest.raises(ProviderError):
        plantnet.identify([ImageInput(b"leaf")])
    status = stats.provider_status(redis, "plantnet", plantnet.breaker.state, clock=clock)
    assert (status["calls_today"], status["rejected_today"], status["breaker"]) == (0, 1, "open")
