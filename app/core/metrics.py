"""Prometheus metrics (request count and latency by endpoint, shared across gunicorn workers), and the request log."""
import logging
import os
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)
from prometheus_client import REGISTRY

from app.core.sockets import UPGRADED

# Metric objects are process-wide by design in prometheus_client; with
# PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker writes its own files and /metrics sums them.
REQUESTS = Counter("verdant_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram("verdant_http_request_duration_seconds", "HTTP request latency",
                    ["method", "endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

request_log = logging.getLogger("app.requests")
# Probes, scrapes and static files would drown the requests people make.
UNLOGGED_ENDPOINTS = frozenset({"core.healthz", "core.metrics"})


def init_metrics(app: Flask) -> None:
    """Time every request, count it by endpoint and status, and log it (one record a request)."""

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def record(response):
        started = g.pop("request_started", None)
        elapsed = None if started is None else time.perf_counter() - started
        if elapsed is not None:
            endpoint = request.endpoint or "unmatched"
            LATENCY.labels(request.method, endpoint).observe(elapsed)
            REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        if _logged(request.endpoint):
            log_request(response.status_code, elapsed)
        return response


def _logged(endpoint: str | None) -> bool:
    if endpoint is None:  # no route matched: a 404 or 405 worth seeing
        return True
    return endpoint not in UNLOGGED_ENDPOINTS and endpoint != "static" and not endpoint.endswith(".static")


def log_request(status: int, elapsed: float | None) -> None:
    """Log the request that is ending; the handler's filter stamps its request id.

    A WebSocket's route returns when its socket ends, so its one record comes then, with the
    handshake's status (101) and the socket's lifetime. The timer starts before any extension's hook
    (app.register_extensions), so a refused request (a CSRF failure, a rate limit) has its duration too.
    """
    if request.environ.get(UPGRADED) and status == 200:
        status = 101
    request_log.info("request", extra={
        "event": "request", "method": request.method, "path": request.path, "status": status,
        "duration_ms": None if elapsed is None else round(elapsed * 1000, 1),
        "endpoint": request.endpoint})


def metrics_response() -> Response:
    """Render the metrics in Prometheus text format: this process's (or, with PROMETHEUS_MULTIPROC_DIR,
    every process's on the host), then the figures the domains read from Redis (register_metrics_collector)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    shared = CollectorRegistry(auto_describe=False)
    for collector in current_app.extensions.get("metrics_collectors", ()):
        shared.register(collector)
    return Response(generate_latest(registry) + generate_latest(shared), mimetype=CONTENT_TYPE_LATEST)
