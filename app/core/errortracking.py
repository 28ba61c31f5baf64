"""Sentry error reports, when SENTRY_DSN is set: unhandled errors in requests and jobs, tagged with the request id."""
import sentry_sdk
from flask import Flask
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.rq import RqIntegration


def init_error_tracking(app: Flask) -> bool:
    """Start the Sentry client when SENTRY_DSN is set; True when it started.

    No personal data is sent (no cookies, bodies or user e-mails); a request's X-Request-ID is a tag,
    so a report leads straight to its JSON log lines.
    """
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return False
    # The SDK's defaults leave out cookies and user data and filter sensitive headers; we keep them.
    sentry_sdk.init(dsn=dsn, environment=app.config.get("ENV_NAME"),
                    traces_sample_rate=app.config.get("SENTRY_TRACES_SAMPLE_RATE", 0.0),
                    integrations=[FlaskIntegration(), RqIntegration()])
    return True


def tag_request(request_id: str) -> None:
    """Tag whatever Sentry reports for this request with its id (a no-op without a DSN)."""
    if sentry_sdk.get_client().is_active():
        sentry_sdk.set_tag("request_id", request_id)
