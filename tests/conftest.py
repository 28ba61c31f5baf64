"""Shared fixtures: the app (CSRF on), clients, users, login helper, live server, browser."""
import os
import re
import shutil
import socket
import tempfile
import threading

import pytest
from werkzeug.serving import make_server

_TMP = tempfile.mkdtemp(prefix="verdant-tests-")
# This run's temporary files (uploads spool there) stay apart from any other process's, so
# "no verdant-upload-* file left behind" is checked against this run alone.
_SPOOL = os.path.join(_TMP, "spool")
os.makedirs(_SPOOL)
tempfile.tempdir = _SPOOL
# Set before config.py is imported: Config reads the environment once.
os.environ.setdefault("VERDANT_INSTANCE_DIR", _TMP)
os.environ["VERDANT_ENV"] = "testing"
if not os.environ.get("TEST_DATABASE_URL"):
    os.environ["TEST_DATABASE_URL"] = f"sqlite:///{_TMP}/test.db"

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.search.base import search_index_tables  # noqa: E402
from config import TestingConfig  # noqa: E402
from tests import factories  # noqa: E402

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def _reset_schema(app) -> None:
    """Build the schema from nothing through the migrations, as `flask db upgrade` does."""
    from flask_migrate import upgrade
    from sqlalchemy import inspect, text

    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            if "alembic_version" in inspect(conn).get_table_names():
                conn.execute(text("DROP TABLE alembic_version"))
        upgrade()


@pytest.fixture(scope="session")
def app():
    app = create_app(TestingConfig)
    app.config["MEDIA_ROOT"] = os.path.join(_TMP, "media")
    _reset_schema(app)
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_g)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    shutil.rmtree(_TMP, ignore_errors=True)


def _fresh_g():
    # Tests keep an app context open for database access, and Flask reuses an open app
    # context for test-client requests; without this, caches in `g` (the signed-in user,
    # the CSRF token) would leak from one client's request into another's.
    from flask import g
    for name in [n for n in vars(g) if n in ("_login_user", "csrf_token", "_csrf_token")]:
        delattr(g, name)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Empty every table and the Redis database after each test that used the app; give the rate
    limiter back to the session's app.

    The limiter is one object for every app, and each app a test builds (make_app, worker.main) takes
    it over with its own Redis, which nothing flushes, or a dead one, which sends every later limit to
    the in-memory fallback: counts left there refused later tests' requests at random.
    """
    from app.extensions import limiter
    limiter_state = dict(vars(limiter))
    yield
    vars(limiter).clear()
    vars(limiter).update(limiter_state)
    if limiter_state.get("_fallback_storage") is not None:
        limiter_state["_fallback_storage"].reset()
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            if conn.dialect.name == "sqlite":
                # The search indexes are virtual tables outside the models.
                for table in search_index_tables():
                    conn.exec_driver_sql(f"DELETE FROM {table}")
        app.extensions["redis"].flushdb()


def worker_env(app, redis_url: str, **settings: str) -> dict[str, str]:
    """The environment of a `worker.py` process serving this app's database on a real Redis."""
    return {**os.environ, "VERDANT_ENV": "production", "SECRET_KEY": "worker-test", "REDIS_URL": redis_url,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], **settings}


@pytest.fixture
def make_app():
    """Build extra apps for tests about configuration; their connections are closed after."""
    built = []

    def make(config):
        built.append(create_app(config))
        return built[-1]

    yield make
    for extra in built:
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()
        extra.extensions["redis"].close()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def request_context(app):
    """Run the test inside a request, for code that builds URLs (search hits carry them)."""
    with app.test_request_context():
        yield


@pytest.fixture
def csrf_off(app, monkeypatch):
    """Turn CSRF off for tests about something else (the convenience client)."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)


@pytest.fixture
def plain_client(app, csrf_off):
    return app.test_client()


def csrf_token(html: str) -> str:
    """Pull the CSRF token out of a rendered form."""
    match = CSRF_RE.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1) or match.group(2)


class AuthActions:
    """Sign in and out through the real forms, CSRF included."""

    def __init__(self, client):
        self.client = client

    def login(self, email="alice@example.com", password=factories.PASSWORD, remember=False):
        page = self.client.get("/accounts/login")
        data = {"email": email, "password": password, "csrf_token": csrf_token(page.text)}
        if remember:
            data["remember"] = "y"
        return self.client.post("/accounts/login", data=data)

    def logout(self):
        page = self.client.get("/")
        return self.client.post("/accounts/logout", data={"csrf_token": csrf_token(page.text)})


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def users(app_ctx):
    """alice and bob (members) and an admin."""
    return {
        "alice": factories.make_user(email="alice@example.com", display_name="Alice"),
        "bob": factories.make_user(email="bob@example.com", display_name="Bob"),
        "admin": factories.make_user(email="admin@example.com", display_name="Ada Admin",
                                     role="admin"),
    }


class Clock:
    """A clock tests move by hand, injected into breakers and limiters so no test sleeps."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def redis():
    """A private in-process Redis for tests of code that takes a client."""
    import fakeredis
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield client
    client.close()


@pytest.fixture
def fake(fake_provider_servers):
    """The fake providers (no app involved), reset to answer normally with no recorded hits."""
    fake_provider_servers.reset()
    return fake_provider_servers


@pytest.fixture
def make_user(app_ctx):
    return factories.make_user


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app):
    """Serve the test app over real HTTP on 127.0.0.1 in a thread."""
    server = make_server("127.0.0.1", _free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def page(request, browser):
    """A phone-sized page, once with JavaScript on and once with it off."""
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  java_script_enabled=request.param, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.js_enabled = request.param
    yield page
    context.close()


@pytest.fixture(scope="session")
def fake_provider_servers():
    """One local server speaking Plant.id, Pl@ntNet, Trefle and OpenAI's wire formats, for the whole run."""
    from app.providers.fakes import FakeProviders
    fake = FakeProviders(slow_seconds=3.0)
    yield fake
    fake.stop()


@pytest.fixture
def fake_providers(app, fake_provider_servers, monkeypatch):
    """Point the app's provider settings at the fakes, reset to "ok" with zeroed hit counters."""
    fake_provider_servers.reset()
    for key, value in fake_provider_servers.settings.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setitem(app.config, "PROVIDER_READ_TIMEOUT", 2.0)
    monkeypatch.setitem(app.config, "IDENTIFY_ANON_RATE_LIMIT", "1000 per minute")
    yield fake_provider_servers
    fake_provider_servers.reset()
