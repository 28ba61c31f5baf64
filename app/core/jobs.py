"""Background jobs of the core: the worker heartbeat the operations dashboard shows."""
import time

from sqlalchemy import text

from app.core.redis import get_redis
from app.extensions import db

HEARTBEAT_KEY = "verdant:worker:heartbeat"


def heartbeat() -> float:
    """Prove a worker can reach the database and Redis, and record when it last did."""
    db.session.execute(text("SELECT 1"))
    now = time.time()
    get_redis().set(HEARTBEAT_KEY, now, ex=24 * 3600)
    return now
