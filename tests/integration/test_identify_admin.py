"""Admin: identifications list and the provider status panel with breaker, calls, latency, quota and cache rate."""
import pytest

from app.providers.breaker import CircuitBreaker
from tests import image_factory as images
from tests.identify_helpers import post_upload


@pytest.mark.parametrize("path", ["/admin/admin_identifications/", "/admin/admin_provider_status/"])
def test_identify_admin_needs_admin(client, auth, users, path):
    auth.login()
    assert client.get(path).status_code == 403


def test_identifications_view_lists_uploads(app, client, auth, users, fake_providers):
    post_upload(client, [images.jpeg()])
    auth.login("admin@example.com")
    response = client.get("/admin/admin_identifications/")
    assert response.status_code == 200 and "completed" in response.text


def test_provider_panel_shows_calls_breaker_and_cache_rate(app, client, auth, users, fake_providers):
    post_upload(client, [images.jpeg()])
    post_upload(client, [images.jpeg()])
    CircuitBreaker(app.extensions["redis"], "plantnet").open_now(60)
    auth.login("admin@example.com")
    response = client.get("/admin/admin_provider_status/")
    assert response.status_code == 200
    row = response.text.split('data-provider="plantnet"')[1].split("</tr>")[0]
    assert "<td data-breaker>open</td>" in row and "<td>1</td>" in row
    assert "Hits 1, misses 1, hit rate\n  50%" in response.text
