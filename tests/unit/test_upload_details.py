"""Reading the organs of several photos, as the form sends them with and without JavaScript."""
import pytest
from werkzeug.datastructures import MultiDict

from app.core import messages
from app.identify.uploads import UploadRejected, read_details


def _organs(values, count):
    return read_details(MultiDict([("organ", v) for v in values]), count).organs


@pytest.mark.parametrize("values, count, organs", [
    (["leaf", "", "", "", ""], 1, ("leaf",)),
    (["leaf", "", "", "", ""], 3, ("leaf",) * 3),
    (["leaf", "", "fruit", "", ""], 3, ("leaf", "leaf", "fruit")),
    (["bark", "flower", "", "", ""], 2, ("bark", "flower")),
    (["", "flower", "", "", ""], 3, ("auto", "flower", "auto")),
    (["", "", "", "", ""], 2, ("auto", "auto")),
], ids=["one-photo", "all-same", "third-differs", "each-its-own", "first-auto", "all-blank"])
def test_a_blank_organ_means_same_as_the_first_photo(values, count, organs):
    assert _organs(values, count) == organs


def test_one_organ_per_photo_from_the_script_is_kept_in_order():
    assert _organs(["bark", "flower", "auto"], 3) == ("bark", "flower", "auto")


def test_an_organ_chosen_for_a_photo_not_sent_is_refused_with_its_own_message():
    with pytest.raises(UploadRejected) as caught:
        _organs(["leaf", "", "fruit", "", ""], 2)
    assert caught.value.status == 422 and caught.value.message == messages.UPLOAD_EXTRA_ORGANS


@pytest.mark.parametrize("fields, message", [
    ([("latitude", "91"), ("longitude", "0")], messages.UPLOAD_BAD_LATITUDE),
    ([("latitude", "abc"), ("longitude", "0")], messages.UPLOAD_BAD_LATITUDE),
    ([("latitude", "0"), ("longitude", "-180.5")], messages.UPLOAD_BAD_LONGITUDE),
    ([("latitude", "1")], messages.UPLOAD_HALF_LOCATION),
    ([("organ", "root")], messages.UPLOAD_BAD_DETAILS),
])
def test_each_problem_has_its_own_message(fields, message):
    with pytest.raises(UploadRejected) as caught:
        read_details(MultiDict(fields), 1)
    assert caught.value.message == message


@pytest.mark.parametrize(("size", "text"), [(15 * 1024 * 1024, "15 MB"), (1536 * 1024, "1.5 MB"),
                                            (20_000, "20 KB"), (1024 * 1024, "1 MB")])
def test_size_limits_read_as_people_say_them(size, text):
    from app.identify.uploads import size_text
    assert size_text(size) == text


def test_waits_are_said_in_the_singular_for_one():
    from app.core.errors import rate_limited_message
    assert messages.quantity(1, "minute") == "1 minute" and messages.quantity(5, "minute") == "5 minutes"
    assert rate_limited_message(1).endswith("wait 1 second.")
    assert rate_limited_message(45).endswith("wait 45 seconds.")
