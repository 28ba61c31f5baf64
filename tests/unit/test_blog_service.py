"""Blog helpers that need no database: slugs, size limit, diffs, dates and Markdown rendering."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from app.blog import service
from app.blog.models import PostRevision
from app.blog.service import BlogError
from app.blog.views import _iso8601, _rfc822
from app.core import messages


@pytest.mark.parametrize("title,slug", [
    ("Watering 101", "watering-101"),
    ("  Ferns & Friends!  ", "ferns-friends"),
    ("Café crème", "cafe-creme"),
    ("<script>alert(1)</script>", "script-alert-1-script"),
    ("../../etc/passwd", "etc-passwd"),
    ("日本の庭", ""),
    ("x" * 300, "x" * 200),
])
def test_slugify_makes_safe_url_slugs(title, slug):
    assert service.slugify(title) == slug


@pytest.mark.parametrize("size,refused", [(200 * 1024, False), (200 * 1024 + 1, True)])
def test_body_size_limit_is_200_kb(size, refused):
    if refused:
        with pytest.raises(BlogError) as caught:
            service.check_body_size("a" * size)
        assert (caught.value.status, caught.value.message) == (413, messages.BLOG_BODY_TOO_LARGE)
    else:
        service.check_body_size("a" * size)


def test_body_size_counts_bytes_not_characters():
    with pytest.raises(BlogError):
        service.check_body_size("é" * (100 * 1024 + 1))


def _revision(number, body, title="T", summary=""):
    return PostRevision(number=number, title=title, summary=summary, body=body)


def test_diff_marks_added_and_removed_lines():
    diff = service.diff_revisions(_revision(1, "a\nb\nc"), _revision(2, "a\nB\nc"))
    assert ("del", "-b") in diff and ("add", "+B") in diff
    assert diff[0][0] == "hunk"


def test_diff_of_identical_revisions_is_empty():
    assert service.diff_revisions(_revision(1, "same"), _revision(2, "same")) == []


def test_diff_includes_title_changes():
    diff = service.diff_revisions(_revision(1, "x", title="Old"), _revision(2, "x", title="New"))
    assert ("del", "-# Old") in diff and ("add", "+# New") in diff


def test_doc_id_is_short_and_valid_for_markdown():
    post_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert service.doc_id_for(post_id) == "post-123456781234"
    assert service.doc_id_for(None) == "post-new"


@pytest.mark.parametrize("value,iso,rfc", [
    (datetime(2026, 3, 1, 9, 5, 7), "2026-03-01T09:05:07Z", "Sun, 01 Mar 2026 09:05:07 +0000"),
    (datetime(2026, 3, 1, 10, 5, 7, tzinfo=timezone(timedelta(hours=1))),
     "2026-03-01T09:05:07Z", "Sun, 01 Mar 2026 09:05:07 +0000"),
])
def test_feed_dates_are_utc(value, iso, rfc):
    assert _iso8601(value) == iso
    assert _rfc822(value) == rfc
