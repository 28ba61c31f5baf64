"""Fixtures and helpers for the forum tests: a fake discussable subject, threads and replies."""
import time
import uuid

import pytest
from sqlalchemy import event

from app.core.registry import register_discussable
from app.extensions import db
from app.forum import service
from app.forum.models import Category

SUBJECT_TYPE = "plant"


class Subjects:
    """A registry of fake subjects that tests can add to and hide."""

    def __init__(self):
        self.known: dict[uuid.UUID, str] = {}

    def add(self, title: str = "Monstera deliciosa") -> uuid.UUID:
        subject_id = uuid.uuid4()
        self.known[subject_id] = title
        return subject_id

    def resolve(self, subject_id):
        title = self.known.get(subject_id)
        return (title, f"/plants/{subject_id}") if title else None


@pytest.fixture
def subjects(app, app_ctx):
    registry = Subjects()
    register_discussable(app, SUBJECT_TYPE, registry.resolve)
    yield registry
    app.extensions["discussables"].pop(SUBJECT_TYPE, None)


@pytest.fixture
def category(app_ctx):
    service.seed_categories()
    return db.session.query(Category).order_by(Category.position).first()


@pytest.fixture
def req(app):
    """A request context, for services that build URLs."""
    with app.test_request_context():
        yield


def make_thread(category, author, title="Yellow leaves on my monstera", body="Help, the leaves turn yellow."):
    return service.create_thread(category, author, title, body)


class QueryCounter:
    """Count the statements an engine runs inside the block; keep each as (monotonic time, SQL, parameters)."""

    def __init__(self, engine):
        self.engine = engine
        self.count = 0
        self.statements = []

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        self.statements.append((time.monotonic(), statement, parameters))

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._on)


def dangerous_markup(html: str, *, hx: bool = True, injected: tuple[str, ...] = ()) -> list[str]:
    """Return the tags and attributes in `html` that could run script (or, with hx, make htmx requests)."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ("script", "iframe", "object", "embed", "style"):
                found.append(tag)
            for name, value in attrs:
                if name.startswith("on") or (hx and name.startswith(("hx-", "data-hx-"))):
                    found.append(name)
                elif name.startswith(("hx-", "data-hx-")) and (value or "") in injected:
                    found.append(f"{name}={value}")
                if name in ("href", "src") and (value or "").strip().lower().startswith(
                        ("javascript:", "data:", "vbscript:")):
                    found.append(f"{name}={value}")

    Parser().feed(html)
    return found
