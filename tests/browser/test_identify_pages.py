"""The result and history pages on a phone, with and without JavaScript: sharing, the history filter after
Back, signing in from a result, a shared result watched by someone else, and the location's focus ring."""
import threading
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from rq import Queue
from sqlalchemy import select

from app.core import messages
from app.extensions import db
from app.identify import service
from app.identify.models import Identification
from tests import image_factory as images
from tests.factories import PASSWORD
from tests.identify_helpers import post_upload

pytestmark = pytest.mark.browser


@pytest.fixture
def queued_only(app, monkeypatch):
    """Queue jobs without running them, so the test decides when the identification finishes."""
    redis = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "queues", {n: Queue(n, connection=redis) for n in ("fast", "slow")})


def _sign_in(page, email="alice@example.com"):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _upload(page, live_server, tmp_path, color=(30, 110, 50)):
    photo = tmp_path / "plant.jpg"
    photo.write_bytes(images.jpeg(1200, 900, color=color))
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(photo))
    page.get_by_role("button", name="Identify").click()
    page.wait_for_url(f"{live_server}/identifications/*")


def test_sharing_says_who_can_see_it(page, live_server, app, app_ctx, users, fake_providers, tmp_path):
    page.goto(f"{live_server}/accounts/login")
    _sign_in(page)
    page.wait_for_url(f"{live_server}/")
    _upload(page, live_server, tmp_path)
    page.wait_for_selector('.identify-progress[data-status="completed"]')
    share = page.locator(".identify-share")
    assert messages.SHARE_PRIVATE in share.inner_text()
    if page.js_enabled:
        page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Share publicly").click()
    share.get_by_text(messages.SHARE_PUBLIC).wait_for()
    link = share.get_by_role("link")
    assert link.inner_text() == page.url == link.get_attribute("href")
    if page.js_enabled:
        # Changed in place, inside the live region that was there before: announced politely.
        assert page.evaluate("window.notReloaded === true")
        assert share.evaluate("el => el.closest('[aria-live]').getAttribute('aria-live')") == "polite"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the long address wraps
    page.get_by_role("button", name="Make private").click()
    share.get_by_text(messages.SHARE_PRIVATE).wait_for()
    assert share.get_by_role("button", name="Share publicly").is_visible()
    db.session.expire_all()
    assert db.session.scalars(select(Identification)).one().is_public is False


def test_history_filter_follows_the_address_after_back(page, live_server, app, app_ctx, fake_providers, tmp_path):
    _upload(page, live_server, tmp_path)  # one low-confidence identification would do; any will
    page.goto(f"{live_server}/identifications")
    box = page.get_by_label("High confidence only")
    box.check()
    if not page.js_enabled:
        page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"{live_server}/identifications?high=1")
    assert box.is_checked()
    page.go_back()
    page.wait_for_url(f"{live_server}/identifications")
    # With the script, htmx fetches the page again on Back and swaps it in: wait for that, up to 5 s.
    expect(box).not_to_be_checked(timeout=5000)
    expect(page.locator("#identify-history")).to_be_visible()


def test_signing_in_from_a_result_comes_back_to_it(page, live_server, app, app_ctx, users, fake_providers, tmp_path):
    _upload(page, live_server, tmp_path)
    result = page.url
    assert page.locator("h1").inner_text() == "Your plant"
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").click()
    page.wait_for_url(f"{live_server}/accounts/login?next={urlsplit(result).path}")
    if page.js_enabled:
        page.evaluate("window.notReloaded = true")
    _sign_in(page)
    page.wait_for_url(result)
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").wait_for()
    assert page.locator("h1").inner_text() == "Your plant"  # identified signed out, now the account's
    if page.js_enabled:
        assert page.evaluate("window.notReloaded === true")  # a boosted sign-in, not a page load


def test_someone_else_watching_a_shared_result_polls_without_a_socket(page, live_server, app, app_ctx, client,
                                                                      fake_providers, queued_only):
    post_upload(client, [images.jpeg(color=(60, 90, 20))])
    ident = db.session.scalars(select(Identification)).one()
    ident.is_public = True
    db.session.commit()
    sockets, polls = [], []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith("/progress") else None)
    page.goto(f"{live_server}/identifications/{ident.id}")
    assert page.locator("h1").inner_text() == "A gardener's plant"
    runner = threading.Thread(target=_finish, args=(app, ident.id))
    runner.start()
    runner.join(timeout=30)
    page.wait_for_selector('.identify-progress[data-status="completed"]', timeout=15_000)
    assert sockets == []
    if page.js_enabled:
        assert polls  # the region asked for itself; without JavaScript the page refreshed
    assert page.locator(".identify-share").count() == 0


def _finish(app, ident_id):
    with app.app_context():
        service.run_identification(ident_id)
        db.session.remove()


def test_location_summary_has_the_same_focus_ring_as_other_controls(page, live_server, fake_providers):
    page.goto(f"{live_server}/identify")
    page.keyboard.press("Tab")  # no pointer: focus moved from the keyboard's is the visible kind
    ring = {}
    for name, control in (("summary", page.locator("summary", has_text="Add where you found it")),
                          ("button", page.get_by_role("button", name="Identify"))):
        control.focus()
        ring[name] = control.evaluate(
            "el => { const s = getComputedStyle(el); "
            "return [el.matches(':focus-visible'), s.outlineStyle, s.outlineWidth, s.outlineColor]; }")
    assert ring["summary"] == ring["button"] == [True, "solid", "3px", "rgb(240, 180, 41)"]
