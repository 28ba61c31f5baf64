"""Admin: identifications list and the provider status panel with breaker, calls, latency, quota and cache rate."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.providers.breaker import CircuitBreaker
from tests import image_factory as images
from tests.identify_helpers import post_upload


@pytest.mark.parametrize("path", ["/admin/admin_identifications/", "/admin/admin_provider_status/"])
def test_identify_admin_needs_admin(client, auth, users, path):
    auth.login()
    assert client.get(path).status_code == 403


def test_identifications_view_lists_uploads(app, client, auth, users, fake_providers):
    from app.extensions import db
    from app.identify.models import Identification
    post_upload(client, [images.jpeg()])
    auth.login("admin@example.com")
    response = client.get("/admin/admin_identifications/")
    assert response.status_code == 200 and "completed" in response.text
    confidence = db.session.scalars(select(Identification)).one().confidence
    assert f">{confidence:.0%}<" in response.text.replace(" ", "").replace("\n", "")
    assert str(confidence) not in response.text  # 0.7354849999999999 said nothing to a person


def test_provider_panel_shows_calls_breaker_and_cache_rate(app, client, auth, users, fake_providers):
    post_upload(client, [images.jpeg()])
    post_upload(client, [images.jpeg()])
    CircuitBreaker(app.extensions["redis"], "plantnet").open_now(60)
    auth.login("admin@example.com")
    response = client.get("/admin/admin_provider_status/")
    assert response.status_code == 200
    cells = _cells(response.text, "plantnet")
    assert cells["Circuit"] == "open" and cells["Calls today"] == "1" and cells["Last error"] == "–"
    assert "Hits 1, misses 1, hit rate\n  50%" in response.text


def test_metrics_report_the_providers_as_the_panel_does(app, client, fake_providers):
    fake_providers.set_mode("plantnet", "500")
    post_upload(client, [images.jpeg()])
    CircuitBreaker(app.extensions["redis"], "plantnet").open_now(60)
    body = client.get("/metrics").text
    assert 'verdant_provider_circuit{provider="plantnet",state="open"} 1.0' in body
    assert 'verdant_provider_circuit{provider="plantid",state="closed"} 1.0' in body
    assert 'verdant_provider_calls_today{outcome="call",provider="plantid"} 1.0' in body
    assert 'verdant_provider_calls_today{outcome="error",provider="plantnet"} 1.0' in body
    latency = re.search(r'verdant_provider_latency_seconds\{provider="plantid",quantile="0.5"\} ([0-9.e-]+)', body)
    assert latency and 0 < float(latency.group(1)) < 5


def _cells(html: str, provider: str) -> dict[str, str]:
    """A provider's figures on the status panel, by label, as text."""
    row = html.split(f'data-provider="{provider}"')[1].split("</tr>")[0]
    return {label: re.sub(r"<[^>]+>", "", text).strip()
            for label, text in re.findall(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', row, re.DOTALL)}


def test_provider_panel_says_when_the_last_error_happened(app, client, auth, users, fake_providers):
    fake_providers.set_mode("plantnet", "500")
    post_upload(client, [images.jpeg()])
    auth.login("admin@example.com")
    response = client.get("/admin/admin_provider_status/")
    last = _cells(response.text, "plantnet")["Last error"]
    kind, _, when = last.partition(", ")
    assert kind == "server_error"
    at = datetime.strptime(f"{datetime.now(timezone.utc).year} {when}", "%Y %d %b, %H:%M UTC")
    assert abs(at.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)) < timedelta(minutes=2)
    assert _cells(response.text, "plantid")["Last error"] == "–"


def _delete(client, ident_id):
    from tests.conftest import csrf_token
    listing = client.get("/admin/admin_identifications/")
    return client.post("/admin/admin_identifications/delete/",
                       data={"id": str(ident_id), "csrf_token": csrf_token(listing.text)})


def test_deleting_identifications_deletes_their_photos_once_none_shares_them(app, client, auth, users,
                                                                              fake_providers):
    from sqlalchemy import select

    from app.extensions import db
    from app.identify.models import Identification
    photo = images.jpeg(color=(140, 60, 20))
    post_upload(client, [photo])
    post_upload(client, [photo])  # the same bytes: answered from the cache, sharing the stored photo
    first, second = db.session.scalars(select(Identification).order_by(Identification.created_at)).all()
    stored, thumbnail = first.images[0].storage_key, first.images[0].thumbnail_key
    assert second.images[0].storage_key == stored
    storage = app.extensions["storage"]
    auth.login("admin@example.com")

    assert _delete(client, first.id).status_code == 302
    assert storage.exists(stored) and storage.exists(thumbnail)  # the second still shows it
    assert client.get(f"/identifications/{second.id}/images/0").status_code == 200

    assert _delete(client, second.id).status_code == 302
    assert not storage.exists(stored) and not storage.exists(thumbnail)
    # The same bytes again are no longer offered the deleted photo: they are cleaned and stored anew.
    post_upload(client, [photo])
    third = db.session.scalars(select(Identification)).one()
    assert third.images[0].storage_key != stored and storage.exists(third.images[0].storage_key)
    assert client.get(f"/identifications/{third.id}/images/0").status_code == 200


def test_provider_panel_shows_plantid_credits_read_by_the_periodic_job(app, client, auth, users, fake_providers):
    from app.identify import service
    assert "plantid-quota" in app.extensions["periodic_jobs"]
    post_upload(client, [images.jpeg()])
    run, _, _ = app.extensions["periodic_jobs"]["plantid-quota"]
    remaining = run()
    assert remaining == service.refresh_plantid_quota() and remaining > 0
    auth.login("admin@example.com")
    assert _cells(client.get("/admin/admin_provider_status/").text, "plantid")["Remaining quota"] == str(remaining)


def test_plantid_credits_unread_leave_the_panel_as_it_was(app, app_ctx, fake_providers):
    from app.identify import service
    fake_providers.set_mode("plantid", "401")
    assert service.refresh_plantid_quota() is None
