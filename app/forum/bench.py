"""Benchmark data: one thread with 200 posts and a 200-post thread embedded under a subject."""
import uuid

from flask import current_app
from sqlalchemy import select

from app.accounts.models import User
from app.core.registry import register_discussable
from app.extensions import db
from app.forum import service
from app.forum.models import Category, Thread

BENCH_TITLE = "Benchmark: two hundred replies about tomatoes"
BENCH_SUBJECT_TYPE = "bench"
BENCH_SUBJECT_ID = uuid.UUID("00000000-0000-4000-8000-00000000be0c")
BENCH_THREAD_ID = uuid.UUID("00000000-0000-4000-8000-00000000f0ab")
POSTS = 200


def _bench_subject(subject_id: uuid.UUID):
    return ("Benchmark subject", "/") if subject_id == BENCH_SUBJECT_ID else None


def register_bench_subject(app) -> None:
    """Make the benchmark's embedded thread resolvable (only when BENCH_FORUM_SUBJECT is set)."""
    register_discussable(app, BENCH_SUBJECT_TYPE, _bench_subject)


def seed_bench_thread() -> str:
    """Create the benchmark threads unless they exist."""
    if db.session.scalar(select(Thread.id).where(Thread.title == BENCH_TITLE)):
        return "bench thread exists"
    service.seed_categories()
    users = list(db.session.scalars(select(User).order_by(User.created_at).limit(4)))
    if not users:
        return "no users: run `flask seed` first"
    category = db.session.scalar(select(Category).order_by(Category.position).limit(1))
    body = ("Mine split after the rain. **Water evenly**, mulch, and pick them a little early.\n\n"
            "- keep the soil moist\n- feed weekly once flowering\n")
    with current_app.test_request_context():
        thread = service.create_thread(category, users[0], BENCH_TITLE, body, tags="tomatoes",
                                       thread_id=BENCH_THREAD_ID)
        for n in range(1, POSTS):
            service.add_reply(thread, users[n % len(users)], f"Reply {n}. {body}")
        register_bench_subject(current_app)
        embedded = service.ensure_subject_thread(BENCH_SUBJECT_TYPE, BENCH_SUBJECT_ID, users[0])
        for n in range(POSTS):
            service.add_reply(embedded, users[n % len(users)], f"Embedded reply {n}. {body}")
    return f"bench thread {thread.id} and embedded thread with {POSTS} posts each"
