"""Search from the nav on a phone: suggestions as you type with JavaScript, a results page without."""
import pytest

from tests.factories import make_species

pytestmark = pytest.mark.browser


@pytest.fixture
def plants(app_ctx):
    make_species("Monstera deliciosa", family="Araceae", common_names=["Swiss cheese plant"])
    make_species("Philodendron hederaceum", family="Araceae", common_names=["heartleaf philodendron"])


def test_search_as_you_type_shows_top_hits(page, live_server, plants):
    page.goto(f"{live_server}/")
    box = page.get_by_role("searchbox", name="Search Verdant")
    if not page.js_enabled:
        box.fill("philo")
        box.press("Enter")
        page.wait_for_url(f"{live_server}/search?q=philo")
        assert "Philodendron hederaceum" in page.locator("#search-results").inner_text()
        return
    requests = []
    page.on("request", lambda r: "/search/suggest" in r.url and requests.append(r.url))
    box.press_sequentially("p", delay=50)
    page.wait_for_timeout(600)
    assert requests == []  # nothing under two characters
    box.press_sequentially("hilo", delay=30)
    page.locator("#nav-search-suggestions a", has_text="Philodendron hederaceum").wait_for()
    assert requests[-1].endswith("q=philo")
    page.locator("#nav-search-suggestions a", has_text="Philodendron hederaceum").click()
    page.wait_for_url(f"{live_server}/species/philodendron-hederaceum")


def test_species_filters_push_the_url(page, live_server, plants):
    page.goto(f"{live_server}/species")
    page.get_by_label("Family").select_option("Araceae")
    if not page.js_enabled:
        page.get_by_role("button", name="Show plants").click()
    page.wait_for_url(f"{live_server}/species?family=Araceae*")
    assert "2 species in Araceae" in page.locator("#species-results").inner_text()


def test_htmx_swaps_never_write_a_style_attribute_the_csp_forbids(page, live_server):
    # htmx "settles" an element swapped in with the id of one on the page by copying attributes across,
    # style among them by default; setAttribute("style") is an inline style the CSP refuses (QA saw
    # style-src-attr reports after searches). Styles set through element.style are not.
    if not page.js_enabled:
        pytest.skip("htmx needs JavaScript")
    page.add_init_script("""window.__csp = [];
        document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective));""")
    page.goto(f"{live_server}/search?q=fern")
    page.evaluate("""() => {
        const box = document.createElement('div');
        box.innerHTML = '<p id="settled-here">old</p>';
        document.querySelector('main').append(box);
        box.firstChild.style.color = 'green';
        htmx.swap(box, '<p id="settled-here">new</p>', {swapStyle: 'innerHTML'});
    }""")
    page.wait_for_timeout(300)  # settling takes htmx's default 20 ms
    assert page.locator("#settled-here").inner_text() == "new"
    assert page.evaluate("window.__csp") == []
