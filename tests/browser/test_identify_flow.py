"""On a phone, with and without JavaScript: choose a photo, upload it, and the result appears by itself."""
import threading
import uuid

import pytest
from rq import Queue
from sqlalchemy import select

from app.core import messages
from app.extensions import db
from app.identify import service
from app.identify.models import Identification
from tests import image_factory as images
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.identify_helpers import uploads_sent

pytestmark = pytest.mark.browser

RECORD_PROGRESS = """
new MutationObserver(() => {
  const box = document.querySelector('.upload-progress');
  if (box && !box.hidden) sessionStorage.setItem('progressShown', '1');
  const bar = document.querySelector('.upload-progress progress');
  if (bar && bar.value > 0) sessionStorage.setItem('progressValue', String(bar.value));
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""


@pytest.fixture
def queued_only(app, monkeypatch):
    """Queue jobs without running them, so the test decides when the identification finishes."""
    redis = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "queues", {n: Queue(n, connection=redis) for n in ("fast", "slow")})


def _photo(tmp_path, name, color):
    """Write a 1200x900 JPEG of one colour for the file input (another colour is another photo)."""
    path = tmp_path / name
    path.write_bytes(images.jpeg(1200, 900, color=color))
    return path


def _upload(page, live_server, photo, *, mark_page=False):
    """Choose a photo from the library on the identify page, send it, and wait for its result page.

    mark_page sets window.notReloaded on the upload page, so the caller can tell whether the result
    replaced it in place."""
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(photo))
    if mark_page:
        page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Identify").click()
    page.wait_for_url(f"{live_server}/identifications/*")


def _identification_count():
    db.session.expire_all()
    return len(db.session.scalars(select(Identification)).all())


def _finish_job(app):
    with app.app_context():
        ident = db.session.scalars(select(Identification)).one()
        service.run_identification(ident.id)
        db.session.remove()


def test_photo_to_result_without_reloading(page, live_server, app, app_ctx, fake_providers, queued_only, tmp_path):
    photo = tmp_path / "monstera.jpg"
    photo.write_bytes(images.jpeg(1200, 900))
    if page.js_enabled:
        page.add_init_script(RECORD_PROGRESS)
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(photo))
    page.get_by_label("What do the photos show?").select_option("leaf")
    page.get_by_role("button", name="Identify").click()
    page.wait_for_url(f"{live_server}/identifications/*")
    progress = page.locator(".identify-progress")
    assert progress.get_attribute("data-status") == "queued"
    if page.js_enabled:
        assert page.evaluate("sessionStorage.getItem('progressShown')") == "1"
        assert page.evaluate("Number(sessionStorage.getItem('progressValue'))") > 0
        page.evaluate("window.notReloaded = true")
    runner = threading.Thread(target=_finish_job, args=(app,))
    runner.start()
    runner.join(timeout=30)
    page.wait_for_selector('.identify-progress[data-status="completed"]', timeout=15_000)
    ident = db.session.scalars(select(Identification)).one()
    db.session.refresh(ident)
    assert ident.suggestions[0].scientific_name in page.locator(".identify-result").inner_text()
    assert ident.images[0].organ == "leaf"
    if page.js_enabled:
        assert page.evaluate("window.notReloaded === true")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390


def test_photo_seen_before_shows_its_result_at_once(page, live_server, app, app_ctx, fake_providers,
                                                    queued_only, tmp_path):
    photo = _photo(tmp_path, "again.jpg", (30, 90, 30))
    _upload(page, live_server, photo)
    _finish_job(app)
    _upload(page, live_server, photo, mark_page=True)
    page.wait_for_selector('.identify-progress[data-status="completed"]', timeout=15_000)
    if page.js_enabled:
        assert page.evaluate("window.notReloaded === true")  # shown in place, no second request
    db.session.expire_all()
    first, second = db.session.scalars(select(Identification).order_by(Identification.created_at)).all()
    assert page.url == f"{live_server}/identifications/{second.id}"
    assert second.from_cache and second.suggestions[0].scientific_name in page.locator(".identify-result").inner_text()
    if page.js_enabled:
        page.go_back()  # back to the upload form, not a stale copy of the result
        page.wait_for_url(f"{live_server}/identify")
        page.get_by_role("button", name="Identify").wait_for(timeout=10_000)
        page.go_forward()
        page.wait_for_url(f"{live_server}/identifications/{second.id}")
        page.locator(".identify-result").wait_for()  # the page loads again for its address
    page.reload()  # the address is the result's own page
    assert second.suggestions[0].scientific_name in page.locator(".identify-result").inner_text()


def test_progress_stops_polling_once_the_socket_is_open(page, live_server, app, app_ctx, fake_providers,
                                                         queued_only, tmp_path):
    if not page.js_enabled:
        pytest.skip("without JavaScript the page refreshes itself; there is no socket")
    photo = _photo(tmp_path, "fern.jpg", (20, 120, 40))
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith("/progress") else None)
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    _upload(page, live_server, photo)
    # The socket's first state replaces the region with one that no longer polls.
    # (A selector wait: wait_for_function polls by evaluating strings, which the page's CSP forbids.)
    page.locator('.identify-progress[hx-trigger="every 1s"]').wait_for(state="detached", timeout=10_000)
    assert sockets
    polls.clear()
    page.wait_for_timeout(2500)
    assert polls == []
    assert page.locator(".identify-progress").get_attribute("data-status") == "queued"


def test_care_notes_appear_when_enrichment_has_written_them(page, live_server, app, app_ctx, fake_providers,
                                                            queued_only, tmp_path):
    from app.species.enrichment import enrich_species
    photo = _photo(tmp_path, "calathea.jpg", (60, 100, 30))
    _upload(page, live_server, photo)
    _finish_job(app)
    page.wait_for_selector('.identify-progress[data-status="completed"]', timeout=15_000)
    care = page.locator(".care")
    assert "being written" in care.inner_text()
    if not page.js_enabled:
        assert "Reload this page" in page.content()
    [job] = app.extensions["queues"]["slow"].jobs
    with app.app_context():
        overview = enrich_species(uuid.UUID(job.args[0])).care_text["overview"]
        db.session.remove()
    if page.js_enabled:
        page.evaluate("window.notReloaded = true")
        page.get_by_text(overview).wait_for(timeout=10_000)  # asked for again, without a reload
        assert page.evaluate("window.notReloaded === true")
    else:
        page.reload()
    assert "How to care for" in care.inner_text() and overview in care.inner_text()


def test_identify_reached_from_the_nav_uploads_through_the_script(page, live_server, app, app_ctx, fake_providers,
                                                                  queued_only, tmp_path):
    photo = _photo(tmp_path, "pothos.jpg", (40, 110, 50))
    sent = uploads_sent(page)
    nav = page.get_by_role("navigation", name="Main")
    page.goto(f"{live_server}/")
    nav.get_by_role("link", name="Identify").click()  # a boosted navigation when JavaScript is on
    page.wait_for_url(f"{live_server}/identify")
    nav.get_by_role("link", name="Verdant").click()  # away, and back again
    page.wait_for_url(f"{live_server}/")
    nav.get_by_role("link", name="Identify").click()
    page.wait_for_url(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(photo))
    page.get_by_role("button", name="Identify").click()
    page.wait_for_url(f"{live_server}/identifications/*")
    assert page.locator(".identify-progress").get_attribute("data-status") == "queued"
    assert len(sent) == 1 and _identification_count() == 1
    # The script sends the (downscaled) photos itself; without JavaScript the form posts as it is.
    assert sent[0].headers.get("hx-request") == ("true" if page.js_enabled else None)


def test_double_tap_on_identify_uploads_once(page, live_server, app, app_ctx, fake_providers, queued_only,
                                             tmp_path):
    if not page.js_enabled:
        pytest.skip("without JavaScript the browser itself submits the form")
    photo = _photo(tmp_path, "ficus.jpg", (50, 120, 60))
    sent = uploads_sent(page)
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(photo))
    page.get_by_role("button", name="Identify").dblclick()
    page.locator(".identify-progress").wait_for()  # on the result page (a second upload may navigate again)
    page.wait_for_timeout(500)  # time for a second upload to arrive, had one started
    assert len(sent) == 1
    assert _identification_count() == 1


def test_a_fresh_upload_form_shows_no_retry_or_problem(page, live_server, fake_providers):
    page.goto(f"{live_server}/identify")
    assert page.locator("form[data-upload] button[type=submit]").is_visible()
    assert page.locator(".upload-retry").is_hidden() and page.locator(".upload-problem").is_hidden()
    # A class's display (.button is inline-block) never shows what is marked hidden. (Playwright
    # evaluates this with the page's own JavaScript off too.)
    shown = page.evaluate("""() => {
        const button = Object.assign(document.createElement("button"), {className: "button", hidden: true});
        document.body.append(button);
        return getComputedStyle(button).display;
    }""")
    assert shown == "none"


def test_history_entries_are_tap_targets(page, live_server, app, app_ctx, fake_providers, queued_only, tmp_path):
    _upload(page, live_server, _photo(tmp_path, "fern.jpg", (20, 100, 80)))
    page.goto(f"{live_server}/identifications")
    entry = page.locator(".identify-history a").first.bounding_box()
    assert entry["height"] >= 44  # a thumb's width: the line of text alone was ~19 px
    assert page.locator(".identify-history time").first.inner_text().endswith(" UTC")


def test_history_shows_a_space_between_the_name_and_its_confidence(page, live_server, fake_providers, tmp_path):
    # The link is a flex box, whose items drop the space that began " (83%)".
    import re
    _upload(page, live_server, _photo(tmp_path, "ivy.jpg", (30, 120, 40)))
    page.goto(f"{live_server}/identifications")
    assert re.fullmatch(r"[A-Z][a-z]+ [a-z-]+ \(\d+%\)", page.locator(".identify-history a").first.inner_text())


@pytest.mark.parametrize("arrival", ["address", "nav"])
def test_back_then_forward_after_a_result_shown_in_place_shows_each_page(page, live_server, app, app_ctx,
                                                                         fake_providers, queued_only, tmp_path,
                                                                         arrival):
    if not page.js_enabled:
        pytest.skip("without JavaScript every result is a page of its own")
    photo = _photo(tmp_path, "aloe.jpg", (70, 130, 40))
    _upload(page, live_server, photo)
    _finish_job(app)
    if arrival == "nav":
        page.goto(f"{live_server}/")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Identify").click()
        page.wait_for_url(f"{live_server}/identify")
    else:
        page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(photo))
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Identify").click()
    page.wait_for_url(f"{live_server}/identifications/*")
    result_url = page.url
    page.locator(".identify-result").wait_for()
    assert page.evaluate("window.notReloaded === true")  # the cache answered: shown in place
    page.go_back()
    page.wait_for_url(f"{live_server}/identify")
    page.get_by_role("button", name="Identify").wait_for()
    assert page.locator(".identify-result").count() == 0
    page.go_forward()
    page.wait_for_url(result_url)
    page.locator(".identify-result").wait_for()
    assert page.locator("form[data-upload]").count() == 0


def test_refused_upload_shows_why_beside_the_form_and_a_new_choice_goes_through(page, live_server, app, app_ctx,
                                                                                  fake_providers, queued_only,
                                                                                  tmp_path):
    if not page.js_enabled:
        pytest.skip("without JavaScript the refusal is a page of its own")
    photos = []
    for shade in range(6):
        photos.append(tmp_path / f"leaf-{shade}.jpg")
        photos[-1].write_bytes(images.jpeg(800, 600, color=(30 + shade * 20, 120, 40)))
    page.goto(f"{live_server}/identify")
    form = page.locator("form[data-upload]")
    page.set_input_files("#photo-library", [str(p) for p in photos])
    page.get_by_role("button", name="Identify").click()
    form.get_by_text(messages.UPLOAD_TOO_MANY_PHOTOS).wait_for()
    # Sending the same photos again would be refused again: no retry, and no full bar beside the refusal.
    assert page.get_by_role("button", name="Try the upload again").is_hidden()
    assert page.locator(".upload-progress progress").evaluate("bar => bar.value") == 0
    assert page.get_by_role("button", name="Identify").is_enabled()
    page.set_input_files("#photo-library", [str(p) for p in photos[:2]])
    page.get_by_role("button", name="Identify").click()
    page.wait_for_url(f"{live_server}/identifications/*")
    assert _identification_count() == 1
    ident = db.session.scalars(select(Identification)).one()
    assert len(ident.images) == 2


def test_upload_cut_off_offers_a_retry_that_sends_it_again(page, live_server, app, app_ctx, fake_providers,
                                                            queued_only, tmp_path):
    if not page.js_enabled:
        pytest.skip("the retry button belongs to the script")
    photo = _photo(tmp_path, "palm.jpg", (60, 140, 70))
    cut = []

    def cut_the_first(route):
        if route.request.method == "POST" and not cut:
            cut.append(route.request)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/identify", cut_the_first)
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(photo))
    page.get_by_role("button", name="Identify").click()
    retry = page.get_by_role("button", name="Try the upload again")
    retry.wait_for()
    assert "connection dropped" in page.locator("form[data-upload] [role=alert]").inner_text()
    assert page.locator(".upload-progress progress").evaluate("bar => bar.value") == 0
    retry.click()
    page.wait_for_url(f"{live_server}/identifications/*")
    assert len(cut) == 1 and _identification_count() == 1


@pytest.fixture
def bfcache_page(browser):
    """A phone-sized page in a Chromium that keeps pages in the back-forward cache, as phones do
    (Playwright turns that cache off by default)."""
    own = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                      ignore_default_args=["--disable-back-forward-cache"])
    context = own.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    own.close()


def test_back_from_a_result_finds_the_form_ready_again(bfcache_page, live_server, app, app_ctx, fake_providers,
                                                       queued_only, tmp_path):
    page = bfcache_page
    photo = _photo(tmp_path, "ivy.jpg", (20, 100, 70))
    _upload(page, live_server, photo)
    page.go_back(wait_until="commit")  # a page from the cache fires no load event
    page.wait_for_url(f"{live_server}/identify", wait_until="commit")
    assert page.get_by_role("button", name="Identify").is_enabled()
    assert page.get_by_role("button", name="Try the upload again").is_hidden()
