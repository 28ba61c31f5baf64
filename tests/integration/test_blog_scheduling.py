"""A scheduled post is published by a real RQ worker and its scheduler when its time comes."""
import time
from datetime import timedelta

from rq import Queue
from rq.registry import ScheduledJobRegistry

from app.blog import service
from app.blog.jobs import publish_scheduled_post
from app.blog.models import Post
from app.core.models import utcnow
from app.core.worker import make_worker
from app.extensions import db
from tests.factories import make_post, make_user


def _async_queues(app, monkeypatch):
    redis = app.extensions["redis"]
    queues = {name: Queue(name, connection=redis) for name in app.config["RQ_QUEUES"]}
    monkeypatch.setitem(app.extensions, "queues", queues)
    return queues


def test_worker_with_scheduler_publishes_post_when_due(app_ctx, client, monkeypatch):
    app = app_ctx
    _async_queues(app, monkeypatch)
    post = make_post(make_user(role="editor"), title="Tomorrow's news", status="draft")
    due = utcnow() + timedelta(seconds=1)
    with app.test_request_context():
        service.schedule_post(post, due)
    assert post.status == "scheduled"
    assert client.get(f"/blog/{post.slug}").status_code == 404
    time.sleep(max(0.0, (due - utcnow()).total_seconds()) + 0.2)
    make_worker(app).work(burst=True, with_scheduler=True)
    db.session.expire_all()
    published = db.session.get(Post, post.id)
    assert published.status == "published" and published.scheduled_job_id is None
    assert ScheduledJobRegistry("slow", connection=app.extensions["redis"]).count == 0
    assert client.get(f"/blog/{post.slug}").status_code == 200


def test_worker_leaves_post_scheduled_before_its_time(app_ctx, monkeypatch):
    app = app_ctx
    _async_queues(app, monkeypatch)
    post = make_post(make_user(role="editor"), status="draft")
    with app.test_request_context():
        service.schedule_post(post, utcnow() + timedelta(hours=1))
    make_worker(app).work(burst=True, with_scheduler=True)
    db.session.expire_all()
    assert db.session.get(Post, post.id).status == "scheduled"
    assert ScheduledJobRegistry("slow", connection=app.extensions["redis"]).count == 1


def test_job_leaves_post_that_was_taken_back_to_draft(app_ctx):
    post = make_post(make_user(role="editor"), status="draft")
    post.status, post.scheduled_at = "draft", utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert publish_scheduled_post(str(post.id)) is False
    assert db.session.get(Post, post.id).status == "draft"


def test_job_waits_for_a_later_reschedule(app_ctx):
    post = make_post(make_user(role="editor"), status="draft")
    post.status, post.scheduled_at = "scheduled", utcnow() + timedelta(hours=1)
    db.session.commit()
    assert publish_scheduled_post(str(post.id)) is False
    assert db.session.get(Post, post.id).status == "scheduled"


def test_job_for_deleted_post_does_nothing(app_ctx):
    import uuid
    assert publish_scheduled_post(str(uuid.uuid4())) is False
