"""Sentry: off without SENTRY_DSN; with it, an unhandled error is reported, tagged with its request id, without personal data."""
import sentry_sdk
from sentry_sdk.transport import Transport

from app.core.errortracking import init_error_tracking


class RecordingTransport(Transport):
    """Keeps the envelopes Sentry would send, so nothing leaves the machine."""

    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)


def test_no_dsn_no_client(app):
    assert app.config["SENTRY_DSN"] is None
    assert init_error_tracking(app) is False
    assert not sentry_sdk.get_client().is_active()


def test_unhandled_error_is_reported_with_its_request_id(make_app):
    app = make_app({"SENTRY_DSN": "https://publickey@sentry.invalid/1", "PROPAGATE_EXCEPTIONS": False})
    try:
        client = sentry_sdk.get_client()
        assert client.is_active() and client.dsn == "https://publickey@sentry.invalid/1"
        transport = RecordingTransport(client.options)
        client.transport = transport

        @app.get("/boom-for-sentry")
        def boom():
            raise RuntimeError("kaboom")

        response = app.test_client().get("/boom-for-sentry", headers={"X-Request-ID": "sentry-req-0001",
                                                                       "Cookie": "session=secret"})
        assert response.status_code == 500
        sentry_sdk.flush()
        events = [item.payload.json for envelope in transport.envelopes for item in envelope.items
                  if item.type == "event"]
        assert len(events) == 1
        event = events[0]
        assert event["exception"]["values"][-1]["value"] == "kaboom"
        assert event["tags"]["request_id"] == "sentry-req-0001"
        assert "secret" not in str(event.get("request", {}))
    finally:
        sentry_sdk.init()  # back to no client for the other tests
