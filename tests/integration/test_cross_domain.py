"""The domains meet: threads under species, site search across sources, home sections."""
import uuid

from app.species import service as species_service
from tests.conftest import csrf_token


def test_species_page_embeds_its_thread_and_a_reply_lands_under_it(client, auth, users):
    species = species_service.get_or_create_species("Monstera deliciosa", family="Araceae")
    page = client.get(f"/species/{species.slug}")
    embed_url = f"/forum/embed/species/{species.id}"
    assert embed_url in page.text

    empty = client.get(embed_url, headers={"HX-Request": "true"})
    assert empty.status_code == 200 and "<html" not in empty.text

    auth.login()
    form = client.get(embed_url, headers={"HX-Request": "true"})
    response = client.post(f"/forum/about/species/{species.id}/posts", data={
        "body": "Mine has aerial roots everywhere!", "csrf_token": csrf_token(form.text),
        "nonce": _field(form.text, "nonce")}, headers={"HX-Request": "true"})
    assert response.status_code in (200, 201, 303), response.text[:500]
    thread_page = client.get(f"/forum/about/species/{species.id}")
    assert "Mine has aerial roots everywhere!" in thread_page.text
    assert f"/species/{species.slug}" in thread_page.text


def test_embed_for_missing_species_is_404(client):
    assert client.get(f"/forum/embed/species/{uuid.uuid4()}").status_code == 404


def _field(html: str, name: str) -> str:
    marker = f'name="{name}" type="hidden" value="'
    return html.split(marker)[1].split('"')[0] if marker in html else ""
