"""On a phone, with and without JavaScript: choose a photo, upload it, and the result appears by itself."""
import threading
import uuid

import pytest
from rq import Queue
from sqlalchemy import select

from app.extensions import db
from app.identify import service
from app.identify.models import Identification
from tests import image_factory as images

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
    photo = tmp_path / "again.jpg"
    photo.write_bytes(images.jpeg(1200, 900, color=(30, 90, 30)))
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
    page.reload()  # the address is the result's own page
    assert second.suggestions[0].scientific_name in page.locator(".identify-result").inner_text()


def test_progress_stops_polling_once_the_socket_is_open(page, live_server, app, app_ctx, fake_providers,
                                                         queued_only, tmp_path):
    if not page.js_enabled:
        pytest.skip("without JavaScript the page refreshes itself; there is no socket")
    photo = tmp_path / "fern.jpg"
    photo.write_bytes(images.jpeg(1200, 900, color=(20, 120, 40)))
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
    photo = tmp_path / "calathea.jpg"
    photo.write_bytes(images.jpeg(1200, 900, color=(60, 100, 30)))
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
