"""Prometheus metrics of the identification path: cache hits and misses, outcomes, the providers."""
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

# The services the status panel and /metrics report on: identification, then enrichment.
PROVIDERS = ("plantid", "plantnet", "trefle", "openai")

CACHE = Counter("verdant_identify_cache_total", "Identification result cache look-ups", ["outcome"])
IDENTIFICATIONS = Counter("verdant_identifications_total", "Identifications finished", ["status"])


class ProviderCollector:
    """The providers' figures, read from Redis when Prometheus scrapes, so every process reports the
    same ones: circuit state, today's calls, errors and refusals, recent latency, remaining quota.
    They are what the admin status panel shows."""

    def collect(self):
        from app.core.redis import get_redis
        from app.providers.breaker import CircuitBreaker
        from app.providers.stats import provider_status
        redis = get_redis()
        circuit = GaugeMetricFamily("verdant_provider_circuit", "1 for a provider's circuit breaker state",
                                    labels=["provider", "state"])
        today = GaugeMetricFamily("verdant_provider_calls_today", "Provider calls today (UTC), by outcome",
                                  labels=["provider", "outcome"])
        latency = GaugeMetricFamily("verdant_provider_latency_seconds", "Provider latency over recent calls",
                                    labels=["provider", "quantile"])
        quota = GaugeMetricFamily("verdant_provider_quota_remaining", "Requests the provider says are left",
                                  labels=["provider"])
        for name in PROVIDERS:
            status = provider_status(redis, name, CircuitBreaker(redis, name).state)
            if not status["available"]:
                continue  # Redis is down: say nothing rather than zeros
            circuit.add_metric([name, status["breaker"]], 1)
            today.add_metric([name, "call"], status["calls_today"])
            today.add_metric([name, "error"], status["errors_today"])
            today.add_metric([name, "refused"], status["rejected_today"])
            for quantile, key in (("0.5", "latency_p50_ms"), ("0.95", "latency_p95_ms")):
                if status[key] is not None:
                    latency.add_metric([name, quantile], status[key] / 1000)
            if status["quota_remaining"] is not None:
                quota.add_metric([name], status["quota_remaining"])
        yield from (circuit, today, latency, quota)
