"""The Verdant application factory."""
import os
import threading
from collections.abc import Mapping

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.core.sockets import end_sockets_quietly
from config import ProductionConfig, config_from_env


def create_app(config=None) -> Flask:
    """Build the app: config, extensions, blueprints, errors, CLI and logging."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static",
                instance_path=_instance_path())
    configure(app, config)
    configure_logging(app)
    init_error_tracking(app)
    register_extensions(app)
    register_models()
    register_blueprints(app)
    register_admin(app)
    register_errors_and_hooks(app)
    register_cli(app)
    return app


def _instance_path() -> str:
    from config import INSTANCE_DIR
    return str(INSTANCE_DIR)


def configure(app: Flask, config) -> None:
    """Load a config class, a mapping of overrides, or (None) the class VERDANT_ENV names."""
    if config is None or isinstance(config, Mapping):
        overrides = config or {}
        config = config_from_env()
        app.config.from_object(config)
        app.config.update(overrides)
    else:
        app.config.from_object(config)
    if app.config["ENV_NAME"] == "production":
        missing = ProductionConfig.missing()
        if missing:
            raise RuntimeError(f"Missing required environment variable(s): {', '.join(missing)}")
    os.makedirs(app.instance_path, exist_ok=True)
    if app.config["PROXY_COUNT"]:
        # Client address (rate limits, logs) and https (HSTS, secure redirects) come from the proxy.
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    # A socket served under `flask run` ends with its close frame, as under gunicorn (app/core/sockets.py).
    app.wsgi_app = end_sockets_quietly(app.wsgi_app)
    # The embedded worker needs the in-process Redis; with a real one, `python worker.py` runs jobs.
    app.config["EMBEDDED_WORKER"] = app.config["EMBEDDED_WORKER"] and not app.config["REDIS_URL"]


def configure_logging(app: Flask) -> None:
    from app.core.logging import configure_logging as configure
    configure(app)


def init_error_tracking(app: Flask) -> None:
    from app.core.errortracking import init_error_tracking as init
    init(app)


def register_extensions(app: Flask) -> None:
    from app.core.hooks import init_request_id
    from app.core.metrics import init_metrics
    from app.core.redis import init_redis
    from app.extensions import cache, csrf, db, limiter, login, migrate, sock, talisman
    from app.providers.fakes import media_origins as fake_media_origins

    # Order matters: cache and limiter store their state in the Redis built here; the request id and
    # the timer start before any extension's hook can refuse a request, so refusals carry both.
    init_redis(app)
    init_request_id(app)
    init_metrics(app)
    client = app.extensions["redis"]
    app.config.setdefault("CACHE_TYPE", "RedisCache")
    app.config["CACHE_REDIS_HOST"] = client
    app.config.setdefault("CACHE_KEY_PREFIX", "verdant:cache:")
    app.config["RATELIMIT_STORAGE_URI"] = "redis://"
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"connection_pool": client.connection_pool}
    # The default limit guards writes; reads are cheap and cacheable, and endpoints that are
    # expensive to read (search, uploads) carry limits of their own.
    app.config.setdefault("RATELIMIT_DEFAULTS_EXEMPT_WHEN", _is_safe_method)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True, compare_type=True)
    login.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    cache.init_app(app)
    sock.init_app(app)
    talisman.init_app(
        app,
        force_https=app.config["FORCE_HTTPS"],
        strict_transport_security=True,
        strict_transport_security_max_age=31536000,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=True,
        frame_options="DENY",
        content_security_policy={
            "default-src": "'self'",
            "script-src": "'self'",
            "style-src": "'self'",
            # With the local fakes (a demo), their reference images come over http from 127.0.0.1.
            "img-src": ["'self'", "data:", "blob:", "https:", *fake_media_origins(app.config)],
            "connect-src": "'self'",
            "font-src": "'self'",
            "object-src": "'none'",
            "base-uri": "'self'",
            "form-action": "'self'",
            "frame-ancestors": "'none'",
        },
        content_security_policy_nonce_in=["script-src"],
        content_security_policy_report_uri="/csp-report",
        referrer_policy="strict-origin-when-cross-origin",
    )
    from app.core.storage import build_storage
    app.extensions["storage"] = build_storage(app.config)
    if app.config["EMBEDDED_WORKER"]:
        _start_embedded_worker_on_first_request(app)


def _is_safe_method() -> bool:
    return request.method in ("GET", "HEAD", "OPTIONS")


def _start_embedded_worker_on_first_request(app: Flask) -> None:
    # Started by the first request, not at import, so `flask db upgrade` and `flask seed`
    # do not spin up a worker they never use; the lock makes it exactly once per process.
    lock = threading.Lock()
    started: list = []

    @app.before_request
    def ensure_worker():
        if not started:
            with lock:
                if not started:
                    from app.core.worker import start_embedded_worker
                    started.extend(start_embedded_worker(app))


def register_models() -> None:
    # Every table must be known to SQLAlchemy (and so to Alembic), even where no view uses it yet.
    import app.accounts.models  # noqa: F401
    import app.blog.models  # noqa: F401
    import app.species.models  # noqa: F401
    import app.forum.models  # noqa: F401
    import app.notifications.models  # noqa: F401
    import app.identify.models  # noqa: F401


def register_blueprints(app: Flask) -> None:
    from app.accounts.views import bp as accounts_bp, init_login
    from app.blog.views import bp as blog_bp, init_blog
    from app.core.jobs import register as register_core_jobs
    from app.core.views import bp as core_bp
    from app.search.views import bp as search_bp, register as register_search
    from app.species.views import bp as species_bp, register as register_species
    from app.forum.views import bp as forum_bp, init_app as init_forum
    from app.notifications.service import register as register_notification_cli
    from app.notifications.views import bp as notifications_bp
    from app.identify.views import bp as identify_bp, register as register_identify

    app.register_blueprint(core_bp)
    register_core_jobs(app)
    app.register_blueprint(accounts_bp)
    init_login(app)
    app.register_blueprint(species_bp)
    register_species(app)
    app.register_blueprint(search_bp)
    register_search(app)
    app.register_blueprint(forum_bp)
    init_forum(app)
    app.register_blueprint(notifications_bp)
    register_notification_cli(app)
    app.register_blueprint(blog_bp)
    init_blog(app)
    app.register_blueprint(identify_bp)
    register_identify(app)


def register_admin(app: Flask) -> None:
    from app.admin.views import init_admin
    init_admin(app)


def register_errors_and_hooks(app: Flask) -> None:
    from app.core.errors import init_errors
    from app.core.hooks import init_hooks
    from app.core.registry import init_template_globals
    from app.core.static import init_static
    init_hooks(app)
    init_errors(app)
    init_template_globals(app)
    init_static(app)


def register_cli(app: Flask) -> None:
    from app.accounts.seed import register as register_account_seed
    from app.core.cli import init_cli
    init_cli(app)
    register_account_seed(app)
