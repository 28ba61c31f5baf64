"""An admin on a phone: deletes ask first, bulk actions run, and the CSP logs no violation."""
import uuid

import pytest
from sqlalchemy import select

from app.extensions import db
from app.identify.models import Identification
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

IDENTIFICATIONS = "/admin/admin_identifications/"
ROW_DELETE_MESSAGE = "Are you sure you want to delete this record?"
BULK_DELETE_MESSAGE = "Are you sure you want to delete selected records?"

# Recorded from the first script on every page; Playwright's init scripts are not subject to the CSP.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || ''));
});
"""


class Dialogs:
    """Answer every dialog the way the test says, and remember what each one asked."""

    def __init__(self, page):
        self.seen: list[tuple[str, str]] = []
        self.answer = "dismiss"
        page.on("dialog", self._handle)

    def _handle(self, dialog):
        self.seen.append((dialog.type, dialog.message))
        if self.answer == "accept":
            dialog.accept()
        else:
            dialog.dismiss()


@pytest.fixture
def admin_page(browser, live_server, users):
    """A phone-sized page with JavaScript on, signed in as the admin, recording CSP violations."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.console_errors = []

    def record_error(message):
        if message.type == "error":
            page.console_errors.append(message.text)

    page.on("console", record_error)
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    page.dialogs = Dialogs(page)
    page.goto(f"{live_server}/accounts/login")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/")
    yield page
    context.close()


def _identifications(n: int) -> list[uuid.UUID]:
    rows = [Identification(status="completed", cache_key=f"key-{i}") for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    ids = [row.id for row in rows]
    db.session.remove()
    return ids


def _remaining(ids) -> set[uuid.UUID]:
    db.session.remove()
    found = set(db.session.scalars(select(Identification.id).where(Identification.id.in_(ids))))
    db.session.remove()
    return found


def _row(page, ident_id):
    return page.locator("table.model-list tbody tr").filter(
        has=page.locator(f'input.action-checkbox[value="{ident_id}"]'))


def _delete_button(page, ident_id):
    return _row(page, ident_id).locator('form button[title="Delete Record"]')


def _csp_violations(page) -> list[str]:
    recorded = page.evaluate("window.__cspViolations || []")
    logged = [text for text in page.console_errors if "Content Security Policy" in text]
    return recorded + logged


def _stayed_put(page) -> bool:
    """True if the page was not replaced since it was marked (no form was submitted)."""
    page.wait_for_timeout(300)
    return page.evaluate("window.__marked === true")


def test_admin_row_delete_dismissed_keeps_the_row(admin_page, live_server, app_ctx):
    keep, other = _identifications(2)
    admin_page.goto(f"{live_server}{IDENTIFICATIONS}")
    admin_page.evaluate("window.__marked = true")

    _delete_button(admin_page, keep).click()

    assert admin_page.dialogs.seen == [("confirm", ROW_DELETE_MESSAGE)]
    assert _stayed_put(admin_page)
    assert _remaining([keep, other]) == {keep, other}
    assert _row(admin_page, keep).count() == 1


def test_admin_row_delete_accepted_deletes_only_that_row(admin_page, live_server, app_ctx):
    doomed, other = _identifications(2)
    admin_page.dialogs.answer = "accept"
    admin_page.goto(f"{live_server}{IDENTIFICATIONS}")

    _delete_button(admin_page, doomed).click()
    admin_page.get_by_text("Record was successfully deleted.").wait_for()

    assert admin_page.dialogs.seen == [("confirm", ROW_DELETE_MESSAGE)]
    assert _remaining([doomed, other]) == {other}
    assert _row(admin_page, doomed).count() == 0 and _row(admin_page, other).count() == 1


def _bulk(page, action_name):
    page.get_by_role("button", name="With selected").click()
    page.locator(".dropdown-menu.show").get_by_text(action_name, exact=True).click()


def test_admin_bulk_delete_of_two_selected_rows_after_confirming(admin_page, live_server, app_ctx):
    first, second, kept = _identifications(3)
    admin_page.dialogs.answer = "accept"
    admin_page.goto(f"{live_server}{IDENTIFICATIONS}")
    _row(admin_page, first).locator("input.action-checkbox").check()
    _row(admin_page, second).locator("input.action-checkbox").check()

    _bulk(admin_page, "Delete")
    admin_page.get_by_text("2 records were successfully deleted.").wait_for()

    assert admin_page.dialogs.seen == [("confirm", BULK_DELETE_MESSAGE)]
    assert _remaining([first, second, kept]) == {kept}


def test_admin_bulk_delete_dismissed_keeps_the_rows(admin_page, live_server, app_ctx):
    ids = _identifications(2)
    admin_page.goto(f"{live_server}{IDENTIFICATIONS}")
    admin_page.evaluate("window.__marked = true")
    for ident_id in ids:
        _row(admin_page, ident_id).locator("input.action-checkbox").check()

    _bulk(admin_page, "Delete")

    assert admin_page.dialogs.seen == [("confirm", BULK_DELETE_MESSAGE)]
    assert _stayed_put(admin_page)
    assert _remaining(ids) == set(ids)


def test_admin_bulk_action_without_selection_says_so_and_sends_nothing(admin_page, live_server, app_ctx):
    ids = _identifications(1)
    admin_page.goto(f"{live_server}{IDENTIFICATIONS}")
    admin_page.evaluate("window.__marked = true")

    _bulk(admin_page, "Delete")

    assert admin_page.dialogs.seen == [("alert", "Please select at least one record.")]
    assert _stayed_put(admin_page)
    assert _remaining(ids) == set(ids)


def test_admin_select_all_then_bulk_delete_removes_every_row(admin_page, live_server, app_ctx):
    ids = _identifications(3)
    admin_page.dialogs.answer = "accept"
    admin_page.goto(f"{live_server}{IDENTIFICATIONS}")

    admin_page.locator("input.action-rowtoggle").check()
    assert admin_page.locator("input.action-checkbox:checked").count() == 3
    _row(admin_page, ids[0]).locator("input.action-checkbox").uncheck()
    assert not admin_page.locator("input.action-rowtoggle").is_checked()
    _row(admin_page, ids[0]).locator("input.action-checkbox").check()
    assert admin_page.locator("input.action-rowtoggle").is_checked()
    _bulk(admin_page, "Delete")
    admin_page.get_by_text("3 records were successfully deleted.").wait_for()

    assert _remaining(ids) == set()


def test_admin_list_page_runs_without_csp_violations(admin_page, live_server, app_ctx):
    ids = _identifications(2)
    admin_page.goto(f"{live_server}{IDENTIFICATIONS}")

    _delete_button(admin_page, ids[0]).click()
    _row(admin_page, ids[0]).locator("input.action-checkbox").check()
    _bulk(admin_page, "Delete")
    admin_page.get_by_role("link", name="List").first.click()
    admin_page.get_by_role("link", name="Add Filter").click()
    admin_page.locator("a.filter", has_text="Status").click()
    admin_page.locator("#filter_form .filter-op").first.wait_for()

    assert _csp_violations(admin_page) == []
    assert _remaining(ids) == set(ids)


@pytest.mark.parametrize("path", [
    "/admin/", "/admin/admin_identifications/", "/admin/admin_provider_status/",
    "/admin/admin_species/", "/admin/admin_species/new/", "/admin/admin_users/",
    "/admin/admin_forum_posts/", "/admin/admin_forum_queue/",
])
def test_admin_pages_load_without_csp_violations(admin_page, live_server, path):
    admin_page.goto(f"{live_server}{path}")
    admin_page.wait_for_load_state("load")
    assert admin_page.evaluate("typeof window.jQuery") == "function"
    assert _csp_violations(admin_page) == []


def test_admin_species_form_adds_an_inline_common_name(admin_page, live_server):
    admin_page.goto(f"{live_server}/admin/admin_species/new/")

    admin_page.get_by_role("button", name="Add Common Names").click()

    admin_page.locator("#common_names .inline-field-list .inline-field").first.wait_for()
    assert _csp_violations(admin_page) == []


def test_admin_provider_status_fits_a_phone_screen(admin_page, live_server):
    admin_page.goto(f"{live_server}/admin/admin_provider_status/")
    table = admin_page.locator("#provider-status")
    table.wait_for()

    # A phone widens its layout viewport (innerWidth) to fit content that overflows.
    widths = admin_page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert widths == [390, 390, 390]
    # Nothing scrolls sideways: each provider is a card, each figure on a line beside its label.
    assert table.evaluate("t => t.scrollWidth <= t.clientWidth")
    card = admin_page.locator('#provider-status tr[data-provider="plantnet"]')
    assert card.bounding_box()["width"] <= 390
    calls = card.locator('td[data-label="Calls today"]')
    assert calls.evaluate("td => getComputedStyle(td, '::before').content") == '"Calls today"'
    label_and_figure = calls.evaluate("td => [td.getBoundingClientRect().height, "
                                      "parseFloat(getComputedStyle(td).lineHeight)]")
    assert label_and_figure[0] < 2.5 * label_and_figure[1]  # one line, not a squeezed column
    assert _csp_violations(admin_page) == []
