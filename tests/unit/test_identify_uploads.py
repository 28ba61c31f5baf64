"""Upload details and cache keys: organs, location and the photo-set key."""
import pytest
from werkzeug.datastructures import MultiDict

from app.core.images import clean_image
from app.identify.service import cache_key_for
from app.identify.uploads import UploadRejected, max_body_bytes, read_details
from app.providers import fakes
from tests import image_factory as images


def test_one_organ_answers_for_every_photo():
    assert read_details(MultiDict([("organ", "flower")]), 3).organs == ("flower",) * 3


def test_missing_organs_default_to_auto():
    assert read_details(MultiDict([("organ", "leaf"), ("organ", "bark")]), 3).organs == ("leaf", "bark", "auto")


@pytest.mark.parametrize("fields", [[("organ", "root")], [("latitude", "1")], [("latitude", "x"), ("longitude", "1")],
                                    [("latitude", "0"), ("longitude", "181")], [("organ", "leaf")] * 3,
                                    [("latitude", "1,5,5"), ("longitude", "1")], [("latitude", "1.5,5"), ("longitude", "1")],
                                    [("latitude", "1_0"), ("longitude", "1")]])
def test_bad_details_are_rejected_with_422(fields):
    with pytest.raises(UploadRejected) as caught:
        read_details(MultiDict(fields), 2)
    assert caught.value.status == 422


def test_location_is_parsed():
    details = read_details(MultiDict([("latitude", "51.5"), ("longitude", "-0.12")]), 1)
    assert (details.latitude, details.longitude) == (51.5, -0.12)


def test_a_location_with_decimal_commas_is_parsed():
    details = read_details(MultiDict([("latitude", " 51,5 "), ("longitude", "-0,12")]), 1)
    assert (details.latitude, details.longitude) == (51.5, -0.12)


def test_single_auto_photo_is_keyed_by_its_own_sha256(app, app_ctx, monkeypatch):
    image = clean_image(__import__("io").BytesIO(images.jpeg()))
    monkeypatch.setitem(app.config, "PLANTID_API_KEY", "a-real-key")
    assert cache_key_for([image], ["auto"]) == image.sha256
    assert cache_key_for([image], ["leaf"]) != image.sha256
    # The fakes' demo answers are kept apart.
    monkeypatch.setitem(app.config, "PLANTID_API_KEY", fakes.KEYS["plantid"])
    assert cache_key_for([image], ["auto"]) not in (image.sha256, cache_key_for([image], ["leaf"]))


def test_the_place_a_photo_was_taken_keys_the_cache_to_about_11_km(app, app_ctx, monkeypatch):
    from app.identify.service import place_of, raw_key_for
    image = clean_image(__import__("io").BytesIO(images.jpeg()))
    monkeypatch.setitem(app.config, "PLANTID_API_KEY", "a-real-key")
    london, nearby, paris = place_of(51.501, -0.124), place_of(51.52, -0.08), place_of(48.85, 2.35)
    assert london == nearby == (51.5, -0.1)
    assert cache_key_for([image], ["auto"], place=london) == cache_key_for([image], ["auto"], place=nearby)
    keys = {cache_key_for([image], ["auto"], place=place) for place in (None, london, paris)}
    assert len(keys) == 3 and image.sha256 in keys
    assert raw_key_for(["abc"], ["auto"], place=london) != raw_key_for(["abc"], ["auto"], place=paris)
    assert place_of(51.5, None) is None and place_of(-0.04, 0.04) == (0.0, 0.0)
    assert str(place_of(-0.04, 0.0)) == "(0.0, 0.0)"  # no separate "-0.0" place


def test_body_cap_allows_five_full_photos():
    assert max_body_bytes(15 * 1024 * 1024, 5) > 75 * 1024 * 1024
