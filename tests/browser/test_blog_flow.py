"""An editor writes a post with a live preview, schedules it, and it appears on the blog (phone, JS on and off)."""
import time
from datetime import timedelta

import pytest

from app.core.models import utcnow
from app.core.worker import make_worker
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def _sign_in(page, base, email):
    page.goto(f"{base}/accounts/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_editor_writes_previews_schedules_and_post_appears(page, live_server, app, make_user):
    make_user(email="erin@example.com", display_name="Erin Editor", role="editor")
    _sign_in(page, live_server, "erin@example.com")

    page.goto(f"{live_server}/blog/manage/new")
    page.get_by_label("Title", exact=True).fill("Spring repotting")
    body = page.get_by_label("Body (Markdown)")
    if page.js_enabled:
        body.press_sequentially("Use a **chunky** mix.", delay=5)
    else:
        body.fill("Use a **chunky** mix.")
        page.get_by_role("button", name="Preview").click()
    page.locator("#post-preview strong", has_text="chunky").wait_for()

    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(f"{live_server}/blog/manage/posts/**")
    assert page.get_by_test_id("post-status").inner_text().lower() == "draft"

    due = utcnow() + timedelta(seconds=2)
    page.get_by_label("Publish at (UTC)").fill(due.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Schedule").click()
    page.locator("#flash", has_text="Scheduled for").wait_for()
    assert page.get_by_test_id("post-status").inner_text().lower() == "scheduled"

    page.goto(f"{live_server}/blog")
    assert page.get_by_text("Spring repotting").count() == 0

    time.sleep(max(0.0, (due - utcnow()).total_seconds()) + 0.3)
    make_worker(app).work(burst=True, with_scheduler=True)

    page.goto(f"{live_server}/blog")
    page.get_by_role("link", name="Spring repotting").click()
    page.wait_for_url(f"{live_server}/blog/spring-repotting")
    assert page.locator("article .prose strong").inner_text() == "chunky"
