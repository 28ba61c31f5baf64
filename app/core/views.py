"""Home page, health and readiness probes, metrics and CSP reports."""
import hmac
import json
import logging

from flask import Blueprint, current_app, jsonify, render_template, request
from markupsafe import Markup
from sqlalchemy import text

from app.core import messages
from app.core.errors import error_response
from app.core.metrics import metrics_response
from app.core.pagecache import cached_page
from app.core.redis import get_redis
from app.extensions import csrf, db, limiter

bp = Blueprint("core", __name__)
HOME_TTL = 30
log = logging.getLogger(__name__)


@bp.get("/")
def home():
    def render(**marks) -> str:
        sections = [Markup(render_template(template, section=provide()))
                    for template, provide in current_app.extensions.get("home_sections", [])]
        return render_template("core/home.html", sections=sections, **marks)

    # Signed-out visitors all see the same page; half a minute of staleness is fine here.
    return cached_page("home", "home", render, ttl=HOME_TTL)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", whatever the driver raised
        db.session.rollback()
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
    down = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "ok" if not down else "unavailable", "checks": checks, "down": down}
    return jsonify(body), (503 if down else 200), ({"Retry-After": "10"} if down else {})


@bp.get("/metrics")
@limiter.exempt
def metrics():
    # With METRICS_TOKEN set, only a scraper that sends it (Authorization: Bearer) reads the figures.
    token = current_app.config["METRICS_TOKEN"]
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return error_response(401, messages.METRICS_TOKEN, {"WWW-Authenticate": 'Bearer realm="metrics"'})
    return metrics_response()


@bp.post("/csp-report")
@csrf.exempt
@limiter.limit("30 per minute")
def csp_report():
    raw = request.get_data(cache=False)
    if len(raw) > current_app.config["CSP_REPORT_MAX_BYTES"]:
        return jsonify(error="report too large"), 413
    try:
        report = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return jsonify(error="invalid JSON"), 400
    if not isinstance(report, (dict, list)):
        return jsonify(error="invalid report"), 400
    log.warning("csp violation", extra={"event": "csp_violation", "outcome": "reported",
                                        "report": report})
    return "", 204


@bp.get("/ceiling")
def ceiling():
    return render_template("core/ceiling.html")
