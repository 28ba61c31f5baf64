"""Redis connection and RQ queues, shared by cache, limiter, locks, pub/sub and jobs."""
import fakeredis
import redis
from flask import Flask, current_app
from rq import Queue


def connect_redis(url: str | None, *, max_connections: int = 200, pool_timeout: float = 5) -> redis.Redis:
    """Return a client for `url`, or for a new in-process Redis when no URL is set.

    A real server gets a blocking pool: past max_connections a caller waits up to pool_timeout seconds
    for a connection instead of failing at once (redis-py's default pool raises past 100).
    """
    if url:
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=pool_timeout,
            socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)
        return redis.Redis(connection_pool=pool)
    # The in-process server speaks the same protocol (Lua included, which RQ's scheduler needs).
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def init_redis(app: Flask) -> None:
    """Build the Redis client and the RQ queues and keep them on the app."""
    client = connect_redis(app.config["REDIS_URL"], max_connections=app.config["REDIS_MAX_CONNECTIONS"],
                           pool_timeout=app.config["REDIS_POOL_TIMEOUT"])
    app.extensions["redis"] = client
    app.extensions["queues"] = {
        name: Queue(name, connection=client, is_async=app.config["RQ_ASYNC"])
        for name in app.config["RQ_QUEUES"]
    }


def get_redis() -> redis.Redis:
    """Return the app's Redis client."""
    return current_app.extensions["redis"]


def get_queue(name: str = "fast") -> Queue:
    """Return the RQ queue called `name` ("fast" or "slow")."""
    return current_app.extensions["queues"][name]
