"""A gardener registers, signs out, signs in and sees the profile, on a phone, with and without JavaScript."""
import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_register_logout_login_profile(page, live_server, app):
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="Join").first.click()
    page.get_by_label("Email").fill("phone@example.com")
    page.get_by_label("Display name").fill("Phone Gardener")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_server}/")
    assert "Welcome to Verdant" in page.locator("#flash").inner_text()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=You're signed out")
    assert page.get_by_role("link", name="Sign in").is_visible()

    page.get_by_role("link", name="Sign in").click()
    page.wait_for_url(f"{live_server}/accounts/login")
    page.get_by_label("Email").fill("phone@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/")

    page.get_by_role("link", name="Phone Gardener").click()
    page.wait_for_url(f"{live_server}/accounts/profile")
    assert page.get_by_test_id("profile-email").inner_text() == "phone@example.com"
    assert page.locator("h1").inner_text() == "Phone Gardener"


def test_wrong_password_shows_error_next_to_field(page, live_server, users):
    page.goto(f"{live_server}/accounts/login")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill("not-my-password")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator("#password-error")
    error.wait_for()
    assert "incorrect" in error.inner_text()
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"


def test_page_fits_phone_width_without_horizontal_scroll(page, live_server):
    if not page.js_enabled:
        pytest.skip("measuring layout needs JavaScript in the page")
    page.goto(f"{live_server}/accounts/register")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
