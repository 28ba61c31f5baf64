"""gunicorn settings. Production runs gevent workers (the Procfile sets GUNICORN_WORKER_CLASS=gevent).

Why gevent: an identification's progress WebSocket stays open for the whole job (and up to
IDENTIFY_SOCKET_SECONDS). Under gthread each open socket pins one of WEB_CONCURRENCY x GUNICORN_THREADS
threads, so 500 sockets would need 500 threads; under gevent a socket is a greenlet waiting on Redis
pub/sub, so hundreds cost memory, not workers, and page requests keep being served beside them.
bench/identify.py measures exactly this (2 gevent workers, 500 sockets held while the home page is
load-tested). Use WEB_CONCURRENCY = cores; GUNICORN_WORKER_CONNECTIONS bounds greenlets per worker.
Redis (REDIS_MAX_CONNECTIONS, a blocking pool) and SQLAlchemy's pool bound what those greenlets hold at
once: past the cap a request waits for a connection instead of failing.

The default stays gthread for `flask`-less local runs and bench/pages.py's long-standing baseline; a
split (pages on gthread, /identifications/<id>/ws routed by the proxy to a gevent process) also works,
since sockets and jobs meet only through Redis.
"""
import os

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # gthread only
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
