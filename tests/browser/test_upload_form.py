"""The upload form on a phone: an organ per photo, problems that keep the focus and the typed details,
and a status line that speaks in phases."""
import pytest
from sqlalchemy import select

from app.core import messages
from app.extensions import db
from app.identify.models import Identification
from tests import image_factory as images
from tests.identify_helpers import uploads_sent

pytestmark = pytest.mark.browser

RECORD_STATUS = """
new MutationObserver(() => {
  const status = document.querySelector('.upload-status');
  const said = JSON.parse(sessionStorage.getItem('statusSaid') || '[]');
  if (status && status.textContent && said[said.length - 1] !== status.textContent) {
    said.push(status.textContent);
    sessionStorage.setItem('statusSaid', JSON.stringify(said));
  }
  const bar = document.querySelector('.upload-progress progress');
  if (bar && bar.value > 0) sessionStorage.setItem('progressValue', String(bar.value));
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""


def _photo(tmp_path, name, color, size=(1200, 900)):
    """Write a JPEG of one colour; its size tells the stored photos apart."""
    path = tmp_path / name
    path.write_bytes(images.jpeg(*size, color=color))
    return path


def _stored_photos():
    db.session.expire_all()
    ident = db.session.scalars(select(Identification)).one()
    return [((image.width, image.height), image.organ) for image in ident.images]


def _focused(page, selector):
    return page.evaluate(f"document.activeElement === document.querySelector({selector!r})")


def test_each_photo_is_sent_with_its_own_organ_camera_photo_first(page, live_server, app, app_ctx, fake_providers,
                                                                     tmp_path):
    taken = _photo(tmp_path, "taken.jpg", (30, 120, 40), (1200, 900))
    chosen = [_photo(tmp_path, "tall.jpg", (60, 120, 40), (900, 1200)),
              _photo(tmp_path, "square.jpg", (90, 120, 40), (800, 800))]
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", [str(p) for p in chosen])
    page.set_input_files("#photo-camera", str(taken))
    if page.js_enabled:
        listed = page.locator(".upload-photos")
        assert page.get_by_text("Photos show different parts?").is_hidden()  # the list replaces it
        assert listed.locator("li").count() == 3
        previews = listed.locator("img")
        for n in range(3):
            previews.nth(n).wait_for()
            assert previews.nth(n).evaluate("img => img.complete && img.naturalWidth > 0")
            assert previews.nth(n).get_attribute("src").startswith("blob:")
        page.get_by_label("What do the photos show?").select_option("leaf")  # for every photo at once
        listed.get_by_label("Photo 1").select_option("bark")
        listed.get_by_label("Photo 2").select_option("flower")
        expected = ["bark", "flower", "leaf"]
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    else:
        page.get_by_label("What do the photos show?").select_option("leaf")
        page.get_by_text("Photos show different parts?").click()
        page.get_by_label("Photo 3", exact=True).select_option("fruit")
        expected = ["leaf", "leaf", "fruit"]
    page.get_by_role("button", name="Identify").click()
    page.wait_for_url(f"{live_server}/identifications/*")
    assert _stored_photos() == list(zip([(1200, 900), (900, 1200), (800, 800)], expected))


def test_photo_organs_are_chosen_by_keyboard(page, live_server, app, app_ctx, fake_providers, tmp_path):
    if not page.js_enabled:
        pytest.skip("without JavaScript the choices are plain selects in the page")
    photos = [_photo(tmp_path, "wide.jpg", (20, 120, 40), (1200, 900)),
              _photo(tmp_path, "tall.jpg", (40, 120, 40), (900, 1200))]
    page.goto(f"{live_server}/identify")
    page.get_by_label("What do the photos show?").select_option("leaf")  # the start for every listed photo
    page.set_input_files("#photo-library", [str(p) for p in photos])
    page.focus("#photo-library")
    page.keyboard.press("Tab")
    assert _focused(page, "#organ")
    page.keyboard.press("Tab")
    assert _focused(page, "#photo-organ-1")
    page.keyboard.press("Tab")
    assert _focused(page, "#photo-organ-2")
    page.keyboard.type("f")  # a closed select picks the first option starting with the letter typed
    assert page.locator("#photo-organ-2").input_value() == "flower"
    page.get_by_role("button", name="Identify").press("Enter")
    page.wait_for_url(f"{live_server}/identifications/*")
    assert _stored_photos() == [((1200, 900), "leaf"), ((900, 1200), "flower")]


def test_too_many_photos_are_refused_before_any_upload(page, live_server, app, app_ctx, fake_providers, tmp_path):
    if not page.js_enabled:
        pytest.skip("without JavaScript the server refuses them (see the integration tests)")
    photos = [_photo(tmp_path, f"leaf-{n}.jpg", (30 + n * 20, 120, 40), (400, 300)) for n in range(6)]
    sent = uploads_sent(page)
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", [str(p) for p in photos])
    page.get_by_role("button", name="Identify").click()
    problem = page.locator("form[data-upload] .upload-problem")
    problem.get_by_text(messages.UPLOAD_TOO_MANY_PHOTOS).wait_for()
    page.wait_for_timeout(300)  # time for an upload to start, had one been prepared
    assert sent == []
    assert page.locator(".upload-progress").is_hidden()
    assert page.get_by_role("button", name="Try the upload again").is_hidden()
    assert _focused(page, "form[data-upload] .upload-problem")


def test_a_refusal_moves_the_focus_to_its_message(page, live_server, app, app_ctx, fake_providers, tmp_path):
    if not page.js_enabled:
        pytest.skip("without JavaScript the refusal is a new page, its message focused (see below)")
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(_photo(tmp_path, "oak.jpg", (40, 100, 30))))
    page.get_by_text("Add where you found it").click()
    page.get_by_label("Latitude").fill("91")
    page.get_by_label("Longitude").fill("0")
    page.get_by_role("button", name="Identify").click()
    problem = page.locator("form[data-upload] .upload-problem")
    problem.get_by_text(messages.UPLOAD_BAD_LATITUDE).wait_for()
    assert _focused(page, "form[data-upload] .upload-problem")
    assert problem.get_attribute("tabindex") == "-1"


def test_after_a_dropped_upload_the_message_has_the_focus_and_tab_reaches_the_retry(page, live_server, app,
                                                                                     app_ctx, fake_providers,
                                                                                     tmp_path):
    if not page.js_enabled:
        pytest.skip("the retry button belongs to the script")
    page.route("**/identify", lambda route: route.abort("connectionreset") if route.request.method == "POST"
               else route.continue_())
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(_photo(tmp_path, "palm.jpg", (60, 140, 70))))
    page.get_by_role("button", name="Identify").click()
    retry = page.get_by_role("button", name="Try the upload again")
    retry.wait_for()
    assert _focused(page, "form[data-upload] .upload-problem")
    page.keyboard.press("Tab")
    assert _focused(page, "form[data-upload] .upload-retry button")


def test_todays_quota_is_a_refusal_without_a_retry(page, live_server, app, app_ctx, fake_providers, tmp_path,
                                                   monkeypatch):
    if not page.js_enabled:
        pytest.skip("the retry button belongs to the script")
    monkeypatch.setitem(app.config, "UPLOAD_QUOTA", 0)
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(_photo(tmp_path, "yew.jpg", (20, 80, 30))))
    page.get_by_role("button", name="Identify").click()
    page.locator("form[data-upload] .upload-problem").get_by_text(messages.UPLOAD_QUOTA.format(limit=0)).wait_for()
    assert page.get_by_role("button", name="Try the upload again").is_hidden()
    assert page.get_by_role("button", name="Identify").is_enabled()


def test_the_status_line_announces_phases_not_percentages(page, live_server, app, app_ctx, fake_providers,
                                                          tmp_path):
    if not page.js_enabled:
        pytest.skip("without JavaScript the browser shows its own progress")
    page.add_init_script(RECORD_STATUS)
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(_photo(tmp_path, "birch.jpg", (90, 130, 60))))
    page.get_by_role("button", name="Identify").click()
    page.wait_for_url(f"{live_server}/identifications/*")
    said = page.evaluate("JSON.parse(sessionStorage.getItem('statusSaid') || '[]')")
    assert said == ["Preparing photos…", "Uploading…", "Uploaded. Identifying…"]
    assert page.evaluate("Number(sessionStorage.getItem('progressValue'))") > 0  # the bar still moves


def test_a_refusal_without_javascript_gives_the_form_back_as_typed(page, live_server, app, app_ctx, fake_providers,
                                                                   tmp_path):
    if page.js_enabled:
        pytest.skip("with JavaScript the refusal shows in the form without leaving it")
    photo = _photo(tmp_path, "ash.jpg", (50, 110, 40))
    page.goto(f"{live_server}/identify")
    page.set_input_files("#photo-library", str(photo))
    page.get_by_label("What do the photos show?").select_option("bark")
    page.get_by_text("Add where you found it").click()
    page.get_by_label("Latitude").fill("91")
    page.get_by_label("Longitude").fill("-0.12")
    page.get_by_role("button", name="Identify").click()
    page.wait_for_load_state()
    refusal = page.locator("form[data-upload] .upload-refused")
    assert refusal.get_attribute("role") == "alert"
    assert messages.UPLOAD_BAD_LATITUDE in refusal.inner_text()
    assert "choose the photos again" in refusal.inner_text()
    assert _focused(page, "form[data-upload] .upload-refused")
    assert page.get_by_role("link", name="Back to the home page").count() == 0
    assert page.get_by_label("Latitude").input_value() == "91"
    assert page.get_by_label("Longitude").input_value() == "-0.12"
    assert page.get_by_label("What do the photos show?").input_value() == "bark"
    page.set_input_files("#photo-library", str(photo))
    page.get_by_label("Latitude").fill("51.5")
    page.get_by_role("button", name="Identify").click()
    page.wait_for_url(f"{live_server}/identifications/*")
    ident = db.session.scalars(select(Identification)).one()
    assert (ident.latitude, ident.longitude) == (51.5, -0.12)
    assert [image.organ for image in ident.images] == ["bark"]
