"""Configuration classes, read from the environment once at start-up."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("VERDANT_INSTANCE_DIR", BASE_DIR / "instance"))


def _env(name: str, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def _env_int(name: str, default: int) -> int:
    return int(_env(name, default))


def _env_float(name: str, default: float) -> float:
    return float(_env(name, default))


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


class Config:
    """Every setting, with the embedded default where one makes sense."""

    ENV_NAME = "base"
    SECRET_KEY = _env("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'verdant.db'}")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = _env("REDIS_URL")
    # Per process. Past it a request waits (up to REDIS_POOL_TIMEOUT s) for a free connection rather than
    # failing, which is what hundreds of concurrent gevent requests need.
    REDIS_MAX_CONNECTIONS = _env_int("REDIS_MAX_CONNECTIONS", 200)
    REDIS_POOL_TIMEOUT = _env_int("REDIS_POOL_TIMEOUT", 5)
    RQ_QUEUES = ("fast", "slow")
    RQ_ASYNC = True
    EMBEDDED_WORKER = _env_bool("EMBEDDED_WORKER", True)
    # A running job proves its worker alive this often; 3 missed beats and another worker takes it.
    WORKER_HEARTBEAT_SECONDS = _env_int("WORKER_HEARTBEAT_SECONDS", 5)
    MEDIA_ROOT = _env("MEDIA_ROOT", str(INSTANCE_DIR / "media"))
    STORAGE_BACKEND = _env("STORAGE_BACKEND", "local")
    S3_BUCKET = _env("S3_BUCKET")
    S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL")
    S3_REGION = _env("S3_REGION", "us-east-1")
    S3_PREFIX = _env("S3_PREFIX", "")
    S3_PUBLIC_URL = _env("S3_PUBLIC_URL")
    AWS_ACCESS_KEY_ID = _env("AWS_ACCESS_KEY_ID")
    AWS_SECRET_ACCESS_KEY = _env("AWS_SECRET_ACCESS_KEY")

    # Bodies: identification uploads raise this per request; everything else stays small.
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024)
    MAX_FORM_MEMORY_SIZE = 500 * 1024
    MAX_FORM_PARTS = 100
    UPLOAD_MAX_BYTES = _env_int("UPLOAD_MAX_BYTES", 15 * 1024 * 1024)
    UPLOAD_MAX_PHOTOS = 5
    UPLOAD_QUOTA = _env_int("UPLOAD_QUOTA", 50)  # identifications per user (or address) per UTC day
    IDENTIFY_RATE_LIMIT = _env("IDENTIFY_RATE_LIMIT", "30 per minute")
    IDENTIFY_ANON_RATE_LIMIT = _env("IDENTIFY_ANON_RATE_LIMIT", "5 per minute;20 per day")
    IDENTIFY_CACHE_SECONDS = 24 * 3600
    IDENTIFY_LOCK_SECONDS = _env_int("IDENTIFY_LOCK_SECONDS", 60)  # outlives both provider timeouts
    IDENTIFY_STUCK_SECONDS = _env_int("IDENTIFY_STUCK_SECONDS", 300)
    IDENTIFY_SWEEP_SECONDS = _env_int("IDENTIFY_SWEEP_SECONDS", 60)  # how often workers look for stuck ones
    # How often workers add finished identifications to their species' counts (species pages lag this much).
    IDENTIFY_COUNT_SECONDS = _env_int("IDENTIFY_COUNT_SECONDS", 30)
    IDENTIFY_JOB_TIMEOUT = _env_int("IDENTIFY_JOB_TIMEOUT", 120)
    # How often a worker asks Plant.id for its remaining credits (the status panel's quota; a free call).
    PLANTID_QUOTA_SECONDS = _env_int("PLANTID_QUOTA_SECONDS", 600)
    # A job queued with its photos may start before the upload is committed; it waits this long for the row.
    IDENTIFY_ROW_WAIT_SECONDS = _env_int("IDENTIFY_ROW_WAIT_SECONDS", 10)
    IDENTIFY_SOCKET_SECONDS = _env_int("IDENTIFY_SOCKET_SECONDS", 600)
    # How often an open progress socket with no events checks the row, for a lost event or a dead worker.
    # Rarely needed: a lost subscription closes the socket, and the sweep announces what it fails.
    IDENTIFY_SOCKET_CHECK_SECONDS = _env_int("IDENTIFY_SOCKET_CHECK_SECONDS", 60)

    SESSION_COOKIE_NAME = "verdant_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_NAME = "verdant_remember"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * 30
    PERMANENT_SESSION_LIFETIME = 60 * 60 * 24 * 14
    FORCE_HTTPS = False
    # How many reverse proxies sit in front and set X-Forwarded-For/-Proto (0: trust none).
    PROXY_COUNT = _env_int("PROXY_COUNT", 0)

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session; expiry annoys phones
    WTF_CSRF_SSL_STRICT = False

    RATELIMIT_ENABLED = True
    RATELIMIT_DEFAULT = _env("RATELIMIT_DEFAULT", "120 per minute")  # state-changing requests
    RATELIMIT_HEADERS_ENABLED = True
    # One Redis round trip to count a request and one to read the headers' figures (a fixed window needs
    # a GET and a TTL for those), and no burst of twice the limit across a window's edge.
    RATELIMIT_STRATEGY = "sliding-window-counter"
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    SEARCH_RATE_LIMIT = _env("SEARCH_RATE_LIMIT", "60 per minute")  # per IP: every search hits the database
    SEARCH_SUGGEST_RATE_LIMIT = _env("SEARCH_SUGGEST_RATE_LIMIT", "120 per minute")  # debounced typing
    SEARCH_CACHE_TTL = _env_int("SEARCH_CACHE_TTL", 60)
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    LOGIN_MAX_FAILURES = 5
    LOGIN_FAILURE_WINDOW = 60

    CACHE_DEFAULT_TIMEOUT = 300
    # Static files whose URL carries their content version (app/core/static.py): a changed file gets a
    # new URL, so browsers may keep a versioned one this long without asking again.
    STATIC_MAX_AGE = 365 * 24 * 3600
    METRICS_TOKEN = _env("METRICS_TOKEN")  # when set, /metrics answers only a Bearer with it
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    LOG_JSON = _env_bool("LOG_JSON", True)
    SENTRY_DSN = _env("SENTRY_DSN")
    SENTRY_TRACES_SAMPLE_RATE = _env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0)
    PROMETHEUS_MULTIPROC_DIR = _env("PROMETHEUS_MULTIPROC_DIR")
    CSP_REPORT_MAX_BYTES = 16 * 1024

    # Email: with no MAIL_SERVER, messages are written to the log instead of sent.
    MAIL_SERVER = _env("MAIL_SERVER")
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USERNAME = _env("MAIL_USERNAME")
    MAIL_PASSWORD = _env("MAIL_PASSWORD")
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_FROM = _env("MAIL_FROM", "Verdant <no-reply@verdant.local>")
    SITE_URL = _env("SITE_URL", "http://127.0.0.1:5000")  # absolute links in emails

    # bench/pages.py sets this so its embedded-thread fragment has a subject to hang under.
    BENCH_FORUM_SUBJECT = _env_bool("BENCH_FORUM_SUBJECT", False)

    GOOGLE_CLIENT_ID = _env("GOOGLE_CLIENT_ID")
    GOOGLE_CLIENT_SECRET = _env("GOOGLE_CLIENT_SECRET")

    PLANTID_API_KEY = _env("PLANTID_API_KEY")
    PLANTID_BASE_URL = _env("PLANTID_BASE_URL", "https://plant.id/api/v3")
    PLANTNET_API_KEY = _env("PLANTNET_API_KEY")
    PLANTNET_BASE_URL = _env("PLANTNET_BASE_URL", "https://my-api.plantnet.org/v2")
    PLANTNET_PROJECT = _env("PLANTNET_PROJECT", "all")
    TREFLE_API_KEY = _env("TREFLE_API_KEY")
    TREFLE_BASE_URL = _env("TREFLE_BASE_URL", "https://trefle.io/api/v1")
    OPENAI_API_KEY = _env("OPENAI_API_KEY")
    OPENAI_BASE_URL = _env("OPENAI_BASE_URL", "https://api.openai.com/v1")
    OPENAI_MODEL = _env("OPENAI_MODEL", "gpt-4o-mini")
    PROVIDER_CONNECT_TIMEOUT = _env_float("PROVIDER_CONNECT_TIMEOUT", 3.05)
    PROVIDER_READ_TIMEOUT = _env_float("PROVIDER_READ_TIMEOUT", 20.0)
    BREAKER_FAIL_MAX = _env_int("BREAKER_FAIL_MAX", 5)
    BREAKER_RESET_TIMEOUT = _env_int("BREAKER_RESET_TIMEOUT", 30)


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    DEBUG = False
    LOG_JSON = _env_bool("LOG_JSON", False)


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret"
    SQLALCHEMY_DATABASE_URI = _env("TEST_DATABASE_URL", "sqlite://")
    REDIS_URL = _env("TEST_REDIS_URL")
    RQ_ASYNC = False
    EMBEDDED_WORKER = False
    RATELIMIT_DEFAULT = "10000 per minute"
    LOG_JSON = True
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024


class ProductionConfig(Config):
    ENV_NAME = "production"
    REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL")
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    FORCE_HTTPS = _env_bool("FORCE_HTTPS", False)  # TLS usually ends at the proxy
    EMBEDDED_WORKER = False

    @classmethod
    def missing(cls) -> list[str]:
        """Name the required environment variables that are not set."""
        return [name for name in cls.REQUIRED if not _env(name)]


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env():
    """Pick the config class named by VERDANT_ENV (development by default)."""
    name = os.environ.get("VERDANT_ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"VERDANT_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    return CONFIGS[name]
