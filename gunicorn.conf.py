"""gunicorn settings: gevent workers, and no keep-alive between the proxy and gunicorn.

Why gevent: an identification's progress WebSocket stays open for the whole job (and up to
IDENTIFY_SOCKET_SECONDS). Under gthread each open socket pins one of WEB_CONCURRENCY x GUNICORN_THREADS
threads, so 500 sockets would need 500 threads; under gevent a socket is a greenlet waiting for its
process's one Redis subscription to relay an event (app/core/relay.py), so hundreds cost memory, not
workers, and page requests keep being served beside them.
Use WEB_CONCURRENCY = cores; GUNICORN_WORKER_CONNECTIONS bounds greenlets per worker. Redis
(REDIS_MAX_CONNECTIONS, a blocking pool) and SQLAlchemy's pool bound what those greenlets hold at once:
past the cap a request waits for a connection instead of failing. psycopg 3 cooperates with gevent.

Why keepalive = 0: TLS and the browsers' keep-alive end at the reverse proxy, and each proxied request
comes on a fresh connection. With keep-alive, a worker that happened to accept more connections kept
them, and gevent served some of its connections seconds late (bench/pages.py: ceiling p99 3.7 s at
-c32); accepting every request anew spreads requests over workers and greenlets (p99 ~25-40 ms).
Upgraded WebSockets are unaffected. Direct exposure without a proxy: set GUNICORN_KEEPALIVE=2.

bench/pages.py and bench/identify.py run exactly this configuration.
"""
import os

# gevent would record, for every greenlet, the stack that spawned it (seven frames or so): objects that
# live as long as the greenlet, so hundreds of open progress sockets made every full garbage collection
# longer. Only debugging tools read them. Read when gevent first needs it, after this file.
os.environ.setdefault("GEVENT_TRACK_GREENLET_TREE", "false")

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # gthread only
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "2000"))  # gevent only
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "0"))
timeout = 60
# The app logs one record per request itself (logger "app.requests", app/core/metrics.py: method, path
# without the query, status, duration, request id), skipping /healthz, /metrics and static files.
accesslog = None
max_requests = 0
# gunicorn 25+ opens a control socket (for `gunicornc`) at one path per user unless told not to: two
# sites on one host would take it from each other, and operators here manage processes through the
# Procfile's supervisor and signals.
control_socket_disable = True


def on_starting(server):
    # Several processes share Prometheus metrics through files in this directory: gunicorn's workers, and
    # worker.py's on this host (their jobs count cache misses and finished identifications). Files of
    # processes that have ended are a previous run's, removed; a running worker.py's stay, or what it
    # has counted would vanish from /metrics.
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if not _is_running(_metrics_file_pid(name)):
                os.remove(os.path.join(path, name))


def _metrics_file_pid(name):
    # prometheus_client names them kind_pid.db (gauge_livesum_1234.db, counter_1234.db ...).
    stem = name.rsplit(".", 1)[0]
    pid = stem.rsplit("_", 1)[-1]
    return int(pid) if pid.isdigit() else None


def _is_running(pid):
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def post_worker_init(worker):
    # The app is loaded: take what loading it made (some 200,000 objects) out of the collector's view.
    # Otherwise every full collection walks them all, ~100 ms during which this worker serves no
    # request and relays no progress event (gc.freeze; objects made later are collected as usual).
    import gc
    gc.freeze()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
