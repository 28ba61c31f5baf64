"""Species pages show photos from shared identifications of that species, in one query, kept fresh."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.identify import service as identify_service
from app.identify.models import Identification
from tests import image_factory as images
from tests.forum_helpers import QueryCounter
from tests.identify_helpers import page_token, post_upload


@pytest.fixture
def ready(app_ctx, fake_providers):
    return fake_providers


def _upload(client, color=(40, 160, 60)) -> Identification:
    post_upload(client, [images.jpeg(color=color)])
    return db.session.scalars(select(Identification).order_by(Identification.created_at.desc())).first()


def _share(client, ident, public=True) -> None:
    response = client.post(f"/identifications/{ident.id}/visibility",
                           data={"public": "1" if public else "0", "csrf_token": page_token(client)})
    assert response.status_code == 303


def _species_page(app, ident) -> str:
    slug = ident.suggestions[0].species.slug
    response = app.test_client().get(f"/species/{slug}")
    assert response.status_code == 200
    return response.text


def _thumb(ident) -> str:
    return f"/identifications/{ident.id}/images/0/thumb"


def test_species_page_shows_photo_of_shared_identification(app, client, auth, users, ready):
    auth.login()
    ident = _upload(client)
    _share(client, ident)
    page = _species_page(app, ident)
    assert _thumb(ident) in page and f'href="/identifications/{ident.id}"' in page
    assert app.test_client().get(_thumb(ident)).mimetype == "image/jpeg"


def test_species_page_leaves_out_private_identification(app, client, auth, users, ready):
    auth.login()
    ident = _upload(client)
    assert _thumb(ident) not in _species_page(app, ident)
    assert "Photos from members" not in _species_page(app, ident)


def test_sharing_refreshes_cached_species_page(app, client, auth, users, ready):
    auth.login()
    ident = _upload(client)
    assert _thumb(ident) not in _species_page(app, ident)  # now cached without the photo
    _share(client, ident)
    assert _thumb(ident) in _species_page(app, ident)


def test_unsharing_removes_photo_from_cached_species_page(app, client, auth, users, ready):
    auth.login()
    ident = _upload(client)
    _share(client, ident)
    assert _thumb(ident) in _species_page(app, ident)
    _share(client, ident, public=False)
    assert _thumb(ident) not in _species_page(app, ident)
    assert app.test_client().get(_thumb(ident)).status_code == 404


def test_photo_shows_only_under_the_top_suggestion(app, client, auth, users, ready):
    auth.login()
    ident = _upload(client)
    _share(client, ident)
    runner_up = next((s.species for s in ident.suggestions[1:] if s.species_id), None)
    if runner_up is None:
        pytest.skip("the fake providers gave a single species")
    page = app.test_client().get(f"/species/{runner_up.slug}").text
    assert _thumb(ident) not in page


def test_unfinished_identification_is_left_out(app, client, auth, users, ready):
    auth.login()
    ident = _upload(client)
    species_id = ident.suggestions[0].species_id
    ident.is_public, ident.status = True, "running"
    db.session.commit()
    assert identify_service.public_photos(species_id) == []


def test_species_photos_take_one_query_however_many(app, client, auth, users, ready):
    auth.login()
    idents = [_upload(client) for _ in range(3)]  # one photo: the fakes name the same species
    for ident in idents:
        _share(client, ident)
    species_ids = {i.suggestions[0].species_id for i in idents}
    assert len(species_ids) == 1
    with QueryCounter(db.engine) as counter:
        photos = identify_service.public_photos(species_ids.pop())
    assert counter.count == 1
    assert [p[0] for p in photos] == [i.id for i in reversed(idents)]


def test_species_photos_are_capped(app, client, auth, users, ready, monkeypatch):
    auth.login()
    idents = [_upload(client) for _ in range(3)]  # one photo: the fakes name the same species
    for ident in idents:
        _share(client, ident)
    assert len(identify_service.public_photos(idents[0].suggestions[0].species_id, limit=2)) == 2
