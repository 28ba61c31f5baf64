"""gunicorn settings: threaded workers by default; gevent where many progress WebSockets stay open.

Each open identification-progress socket occupies its handler for as long as it is open. Under gthread that
is one of WEB_CONCURRENCY x GUNICORN_THREADS threads; under gevent (GUNICORN_WORKER_CLASS=gevent) it is a
greenlet, so hundreds of sockets cost memory, not workers. bench/identify.py runs with gevent.
"""
import os

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))  # gthread only
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "2000"))  # gevent only
keepalive = 5
timeout = 60
accesslog = None  # the app logs requests as JSON itself
max_requests = 0


def on_starting(server):
    # Several workers share Prometheus metrics through files in this directory.
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            os.remove(os.path.join(path, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
