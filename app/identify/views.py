"""Identification pages: upload, progress (page, fragment, WebSocket), results, sharing and history."""
import logging
import random
import secrets
import time
import uuid
from urllib.parse import urlsplit

import click
from flask import (Blueprint, Response, abort, current_app, redirect, render_template, request, session,
                   url_for)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError, validate_csrf
from redis.exceptions import RedisError
from simple_websocket import ConnectionClosed
from wtforms import ValidationError

from app.core import messages
from app.core.errors import error_response, rate_limit_refusal, wants_json
from app.core.images import ImageRejected
from app.core.logging import log_event
from app.core.relay import Relay
from app.core.storage import StorageError
from app.extensions import csrf, db, limiter, sock
from app.htmx import is_htmx, wants_fragment
from app.identify import service, uploads
from app.identify.models import ORGANS

bp = Blueprint("identify", __name__)
SESSION_KEY = "identify_key"
# How long an open progress socket waits for an event before it looks at its connection (closed by the
# browser?) and the clock. A closed socket's loop lasts up to this long; each wake costs CPU.
SOCKET_WAKE_SECONDS = 5.0
# How often a failed identification's page asks whether its automatic retry has started.
RETRY_POLL_SECONDS = 10


@bp.context_processor
def _messages():
    return {"messages": messages}


def _user_id():
    return current_user.id if current_user.is_authenticated else None


def _upload_limit() -> str:
    config = current_app.config
    return config["IDENTIFY_RATE_LIMIT"] if current_user.is_authenticated else config["IDENTIFY_ANON_RATE_LIMIT"]


def _limit_key() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else get_remote_address()


def _visible_or_404(ident_id: uuid.UUID, *, allow_public: bool = True, current: bool = False):
    ident = service.get_visible(ident_id, _user_id(), session.get(SESSION_KEY), allow_public=allow_public,
                                current=current)
    if ident is None:
        abort(404)
    return ident


def _check_csrf(form) -> None:
    # CSRFProtect is bypassed for the upload so the size limit is set before the body is read.
    if not current_app.config["WTF_CSRF_ENABLED"]:
        return
    try:
        validate_csrf(request.headers.get("X-CSRFToken") or form.get("csrf_token"))
    except ValidationError as exc:
        raise CSRFError(exc.args[0] if exc.args else "CSRF check failed") from None


@bp.get("/identify")
def upload(problem: str | None = None, typed: bool = True):
    # problem: a refused post without the script, shown again above the fields as they were typed
    # (unless typed is False: the body was not read).
    return render_template("identify/upload.html", providers=service.configured_providers(),
                           demo=service.is_demo(), organs=ORGANS,
                           max_photos=current_app.config["UPLOAD_MAX_PHOTOS"],
                           max_size=uploads.size_text(current_app.config["UPLOAD_MAX_BYTES"]),
                           problem=problem, typed=request.form if problem and typed else None)


@bp.errorhandler(429)
def rate_limited(exc):
    message, headers = rate_limit_refusal()
    if request.endpoint == "identify.submit":
        # Its body is left unread: the photos and details of a refused request are not worth reading.
        return _upload_problem(429, message, headers, typed=False)
    return error_response(429, message, headers)


@bp.post("/identify")
@csrf.exempt
@limiter.limit(_upload_limit, key_func=_limit_key)
def submit():
    config = current_app.config
    try:
        with uploads.read_upload(request, per_photo=config["UPLOAD_MAX_BYTES"],
                                 max_photos=config["UPLOAD_MAX_PHOTOS"]) as upload:
            _check_csrf(upload.form)
            if not service.configured_providers():
                return error_response(503, messages.IDENTIFY_NO_PROVIDER, {"Retry-After": "3600"})
            photos = uploads.counted_photos(upload, max_photos=config["UPLOAD_MAX_PHOTOS"])
            details = uploads.read_details(upload.form, len(photos))
            raw_key = service.raw_key_for(uploads.raw_digests(upload), details.organs, health=details.health,
                                          place=service.place_of(details.latitude, details.longitude))
            # The same bytes were cleaned and identified before: skip decoding them again.
            known = service.known_upload(raw_key)
            photos = None if known else uploads.clean_photos(upload, max_photos=config["UPLOAD_MAX_PHOTOS"])
    except uploads.UploadRejected as exc:
        return _refused(exc)
    if not current_user.is_authenticated and SESSION_KEY not in session:
        session[SESSION_KEY] = secrets.token_urlsafe(24)
    owner = {"owner_id": _user_id(), "session_key": None if current_user.is_authenticated else session[SESSION_KEY],
             "quota_subject": _quota_subject(), "latitude": details.latitude, "longitude": details.longitude,
             "wants_health": details.health}
    try:
        if known:
            submitted = service.submit_known_upload(known, details.organs, **owner)
        else:
            submitted = service.submit_identification(photos, details.organs, raw_key=raw_key, **owner)
    except ImageRejected as exc:  # found by the decoding check, which runs while the photos are stored
        return _refused(exc)
    except service.QuotaExceeded:
        # The quota resets at midnight UTC, as the message says.
        return _refused(uploads.UploadRejected(429, _quota_message()), {"Retry-After": str(service.quota_resets_in())})
    except StorageError:
        return error_response(503, messages.STORAGE_DOWN, {"Retry-After": "60"})
    except (service.QueueDown, RedisError) as exc:
        # The queue refused the job, or Redis (the daily quota) could not be reached: nothing was kept.
        return _queue_down(exc)
    target = url_for("identify.detail", ident_id=submitted.id)
    if is_htmx() and submitted.final:
        # The cache answered: the script shows this page in place (and pushes its address), one
        # round trip sooner than following a redirect.
        return _render_detail(submitted.ident, "identify/identification.html"), 200, {"HX-Push-Url": target}
    if is_htmx():
        return "", 201, {"HX-Redirect": target, "Location": target}
    return redirect(target, 303)


def _queue_down(exc: Exception):
    """Say identification is unavailable for now and the photo was not saved."""
    log_event("dependency_down", "refused", level=logging.WARNING, dependency="redis",
              error=type(exc.__cause__ or exc).__name__)
    return _upload_problem(503, messages.QUEUE_DOWN, {"Retry-After": "60"})


def _refused(exc: uploads.UploadRejected | ImageRejected, headers: dict | None = None):
    log_event("upload_rejected", "refused", status=exc.status, reason=exc.message)
    return _upload_problem(exc.status, exc.message, headers)


def _upload_problem(status: int, message: str, headers: dict | None = None, *, typed: bool = True):
    """Answer an upload that was not taken. A plain form post gets its form back, not an error page:
    the typed details stay (unless typed is False: the body was not read), and the page says what to
    change; the script and JSON clients get the message alone."""
    if is_htmx() or wants_json():
        return error_response(status, message, headers)
    return upload(problem=message, typed=typed), status, headers or {}


@bp.get("/identifications/<uuid:ident_id>")
def detail(ident_id):
    return _detail_page(ident_id, "identify/_progress.html" if wants_fragment() else "identify/identification.html")


def _detail_page(ident_id, template: str) -> str:
    return _render_detail(_visible_or_404(ident_id, current=True), template)


def _render_detail(ident, template: str) -> str:
    owner = service.can_see(ident, _user_id(), session.get(SESSION_KEY))
    # Werkzeug builds websocket rules as ws:// URLs; the ws extension resolves a path to ws: or wss: itself.
    socket_path = urlsplit(url_for("identify.progress_socket", ident_id=ident.id)).path
    return render_template(template, ident=ident, steps=service.provider_steps(ident), owner=owner,
                           socket_path=socket_path)


@bp.get("/identifications/<uuid:ident_id>/progress")
def progress(ident_id):
    ident = service.refresh(_visible_or_404(ident_id))
    owner = service.can_see(ident, _user_id(), session.get(SESSION_KEY))
    body = render_template("identify/_progress.html", ident=ident, steps=service.provider_steps(ident),
                           owner=owner)
    # 286 tells htmx to stop polling once the identification is final (and awaits no automatic retry).
    return body, 286 if ident.is_final and not service.retry_pending(ident) else 200


@bp.before_request
def guard_socket():
    # flask-sock answers 101 before the route runs, so refusals must happen here (a plain 403).
    if request.endpoint != "identify.progress_socket":
        return None
    origin = request.headers.get("Origin", "")
    ident_id = (request.view_args or {}).get("ident_id")
    if not _same_origin(origin):
        log_event("socket_refused", "refused", reason="origin", origin=origin[:200])
        abort(403)
    ident = service.get_visible(ident_id, _user_id(), session.get(SESSION_KEY), allow_public=False)
    if ident is None:
        log_event("socket_refused", "refused", reason="not_owner")
        abort(403)
    return None


def _same_origin(origin: str) -> bool:
    # Some clients send Host without the port; the host name must match, and the port too when given.
    if not origin:
        return False
    parts = urlsplit(origin)
    host, _, port = request.host.partition(":")
    return parts.hostname == host.lower() and (not port or str(parts.port or "") == port)


@sock.route("/identifications/<uuid:ident_id>/ws", bp=bp)
def progress_socket(ws, ident_id):
    # The socket keeps the id, not the row: hundreds may stay open, and what each keeps is walked by
    # every full garbage collection.
    try:
        # Listen before the first render so no event slips between the two.
        with current_app.extensions["identify_relay"].listen(service.channel(ident_id)) as events:
            final, mark = _send_state(ws, ident_id)
            config = current_app.config
            deadline = time.monotonic() + config["IDENTIFY_SOCKET_SECONDS"]
            every = config["IDENTIFY_SOCKET_CHECK_SECONDS"]
            next_check = time.monotonic() + _first_check_delay(every)
            while not final and ws.connected and time.monotonic() < deadline:
                data = events.get(timeout=max(0.0, min(SOCKET_WAKE_SECONDS, next_check - time.monotonic())))
                if data is None:
                    if time.monotonic() < next_check:
                        continue
                    # No events for a while: one was lost, or the worker died. The region is drawn again
                    # only if the row or its steps changed, or the row is stuck (drawing it sweeps it).
                    next_check = time.monotonic() + every
                    changed = service.progress_changed(ident_id, mark)
                    db.session.close()  # the connection goes back until the next check
                    if changed:
                        final, mark = _send_state(ws, ident_id)
                    continue
                # A step of an identification under way is drawn from its event and Redis, and its end
                # from the row the event carries. The row is read for an event that carries none.
                shown = service.from_event(ident_id, data)
                if shown is not None:
                    final = _send_shown(ws, shown)
                    continue
                next_check = time.monotonic() + every
                final, mark = _send_state(ws, ident_id)
    except (ConnectionClosed, RedisError):
        pass
    finally:
        db.session.remove()


def _first_check_delay(every: float) -> float:
    """Seconds until a new socket first checks its row: a random point of the period. Sockets opened
    together (every open page reconnecting after a restart) would otherwise query the database together,
    period after period."""
    return random.uniform(0, every)


def _socket_fragment(shown, steps=None) -> str:
    steps = service.provider_steps(shown) if steps is None else steps
    return render_template("identify/_progress.html", ident=shown, steps=steps, owner=True, oob=True)


def _send_shown(ws, shown) -> bool:
    ws.send(_socket_fragment(shown))
    return shown.is_final


def _send_state(ws, ident_id) -> tuple[bool, service.ProgressMark | None]:
    """Send the region drawn from the row; return whether it is final, and its mark.

    A row deleted since the socket opened ends the socket."""
    try:
        ident = service.get_visible(ident_id, _user_id(), session.get(SESSION_KEY), allow_public=False,
                                    current=True)
        if ident is None:
            return True, None
        steps = service.provider_steps(ident)
        html = _socket_fragment(ident, steps)
        final, mark = ident.is_final, service.progress_mark(ident, steps)
    finally:
        db.session.close()  # release the connection: a socket may stay open for minutes between events
    ws.send(html)
    return final, mark


@bp.get("/identifications/<uuid:ident_id>/care")
def care(ident_id):
    ident = _visible_or_404(ident_id, current=True)
    body = render_template("identify/_care.html", ident=ident)
    # 286 tells htmx to stop asking: the care text is here, or will not come now.
    return body, 200 if service.care_pending(ident) else 286


@bp.post("/identifications/<uuid:ident_id>/retry")
def retry(ident_id):
    ident = _visible_or_404(ident_id, allow_public=False)
    try:
        service.retry_identification(ident, _quota_subject())
    except service.QuotaExceeded:
        return error_response(429, _quota_message(), {"Retry-After": str(service.quota_resets_in())})
    except RedisError:
        return error_response(503, messages.QUEUE_DOWN, {"Retry-After": "60"})
    return redirect(url_for("identify.detail", ident_id=ident.id), 303)


def _quota_subject() -> str:
    """Whom today's quota counts: the signed-in user, else the address."""
    return f"user:{current_user.id}" if current_user.is_authenticated else f"ip:{get_remote_address()}"


def _quota_message() -> str:
    return messages.UPLOAD_QUOTA.format(limit=current_app.config["UPLOAD_QUOTA"])


@bp.post("/identifications/<uuid:ident_id>/visibility")
@login_required
def visibility(ident_id):
    ident = _visible_or_404(ident_id, allow_public=False)
    try:
        service.set_public(ident, request.form.get("public") == "1")
    except ValueError:
        return error_response(409, messages.SHARE_NOT_READY)
    if wants_fragment():
        return render_template("identify/_result.html", ident=ident, owner=True, share_only=True)
    return redirect(url_for("identify.detail", ident_id=ident.id), 303)


@bp.get("/identifications/<uuid:ident_id>/images/<int:position>")
def image(ident_id, position):
    return _photo(ident_id, position, thumbnail=False)


@bp.get("/identifications/<uuid:ident_id>/images/<int:position>/thumb")
def thumbnail(ident_id, position):
    return _photo(ident_id, position, thumbnail=True)


def _photo(ident_id, position, *, thumbnail):
    ident = _visible_or_404(ident_id)
    found = service.image_bytes(ident, position, thumbnail=thumbnail)
    if found is None:
        abort(404)
    data, content_type, stand_in = found
    if stand_in:
        # A photo standing in for its thumbnail is asked for again next time, when the thumbnail exists.
        cache_control = "private, no-cache"
    elif service.can_see(ident, _user_id(), session.get(SESSION_KEY)):
        cache_control = "private, max-age=86400"
    else:
        # Seen only because it is public: made private again, it must leave other browsers' caches soon.
        cache_control = "private, max-age=300"
    return Response(data, mimetype=content_type,
                    headers={"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"})


@bp.get("/identifications")
def history():
    high_only = request.args.get("high") == "1"
    before = request.args.get("before")
    try:
        page = service.history(_user_id(), session.get(SESSION_KEY), high_only=high_only, before=before)
    except ValueError:  # a cursor this site did not write: show the first page at its own address
        return redirect(url_for("identify.history", high="1" if high_only else None))
    template = "identify/_history.html" if wants_fragment() else "identify/history.html"
    # older: a page past the first, which links back to the newest.
    return render_template(template, page=page, high_only=high_only, older=bool(before))


def register(app) -> None:
    """Add identification to the nav, the home page, the forum's subjects and the CLI."""
    from app.core.registry import (register_bench_seeder, register_discussable, register_home_section,
                                   register_metrics_collector, register_nav_link, register_periodic_job,
                                   register_sign_in_handoff)
    from app.identify.metrics import ProviderCollector
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"max_message_size": 4096, "ping_interval": 25})
    # The process's open progress sockets share one subscription to every identification's events.
    app.extensions["identify_relay"] = Relay(app.extensions["redis"], f"{service.CHANNEL_PREFIX}*")
    register_nav_link(app, "identify.upload", "Identify")
    register_home_section(app, "identify/_home_section.html",
                          lambda: {"identifications": service.recent_public()})
    register_discussable(app, "identification", _resolve_subject)
    register_sign_in_handoff(app, lambda user, previous: service.claim_anonymous(user.id, previous.get(SESSION_KEY)))
    register_bench_seeder(app, "identify", service.seed_bench_identifications)
    # Species pages show shared photos without importing this domain.
    app.jinja_env.globals["species_photos"] = service.public_photos
    # Drawn wherever a result is: its page, its polled region, its socket.
    app.jinja_env.globals["care_pending"] = service.care_pending
    app.jinja_env.globals["retry_pending"] = service.retry_pending
    app.jinja_env.globals["retry_poll_seconds"] = RETRY_POLL_SECONDS
    # Reading a stuck identification sweeps it too; this catches the ones nobody is looking at.
    register_periodic_job(app, "identify-sweep", service.sweep_stuck_identifications,
                          app.config["IDENTIFY_SWEEP_SECONDS"])
    register_periodic_job(app, "identify-count", service.count_finished_identifications,
                          app.config["IDENTIFY_COUNT_SECONDS"])
    register_periodic_job(app, "plantid-quota", service.refresh_plantid_quota, app.config["PLANTID_QUOTA_SECONDS"])
    register_metrics_collector(app, ProviderCollector())

    @app.cli.command("fake-providers", context_settings={"ignore_unknown_options": True})
    @click.argument("options", nargs=-1, type=click.UNPROCESSED)
    def fake_providers_command(options):
        """Run local fake providers in the foreground and print the settings to export (demo, not real).

        Takes python -m app.providers.fakes' options: --port (8765), --host, --slow-seconds."""
        from app.providers.fakes import main
        print("# Results from these fakes are labelled 'demo, not real' on every page.")
        raise SystemExit(main(list(options)))


def _resolve_subject(subject_id: uuid.UUID):
    ident = service.get_visible(subject_id, _user_id(), session.get(SESSION_KEY))
    if ident is None or not ident.is_public:
        return None
    top = ident.top
    title = f"Identification: {top.scientific_name}" if top else "Identification"
    return title, url_for("identify.detail", ident_id=ident.id)


