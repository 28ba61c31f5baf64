"""Prometheus metrics: request count and latency by endpoint, shared across gunicorn workers."""
import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)
from prometheus_client import REGISTRY

# Metric objects are process-wide by design in prometheus_client; with
# PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker writes its own files and /metrics sums them.
REQUESTS = Counter("verdant_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram("verdant_http_request_duration_seconds", "HTTP request latency",
                    ["method", "endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def init_metrics(app: Flask) -> None:
    """Time every request and count it by endpoint and status."""

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def record(response):
        started = g.pop("request_started", None)
        if started is not None:
            endpoint = request.endpoint or "unmatched"
            LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
            REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response


def metrics_response() -> Response:
    """Render the metrics in Prometheus text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
