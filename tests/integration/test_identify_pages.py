"""What the result and history pages say, and to whom: wording, sharing, links, location, caching, sign-in."""
import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from rq import Queue
from simple_websocket import ConnectionClosed
from sqlalchemy import select

from app.core import messages
from app.core.models import utcnow
from app.extensions import db
from app.identify import service
from app.identify.models import Identification
from tests import image_factory as images
from tests.conftest import AuthActions, csrf_token
from tests.identify_helpers import encode_multipart, page_token, post_upload
from tests.socket_client import SocketClient

HX = {"HX-Request": "true"}
PASSWORD = "correct-horse-garden-42"


@pytest.fixture
def ready(app_ctx, fake_providers):
    return fake_providers


@pytest.fixture
def queued_only(app, monkeypatch):
    """Queue jobs without running them: the identification stays queued until the test says."""
    redis = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "queues", {n: Queue(n, connection=redis) for n in ("fast", "slow")})


def _ident():
    ident = db.session.scalars(select(Identification)).one()
    db.session.refresh(ident)
    return ident


def _main(response):
    return response.text.split("<main", 1)[1].split("</main>", 1)[0]


def _shared_by_alice(client, auth, **upload):
    """Alice identifies a plant (flower photo unless told) and shares it; return it."""
    auth.login()
    post_upload(client, [images.jpeg()], **({"organ": "flower"} | upload))
    ident = _ident()
    client.post(f"/identifications/{ident.id}/visibility", data={"public": "1", "csrf_token": page_token(client)})
    return _ident()


def _signed_in(app, email):
    other = app.test_client()
    AuthActions(other).login(email)
    return other


# ---- whose plant (M2) --------------------------------------------------------------------------------

def test_public_result_reads_as_the_owners_to_the_owner(client, auth, users, ready):
    ident = _shared_by_alice(client, auth)
    page = _main(client.get(f"/identifications/{ident.id}"))
    assert "<h1>Your plant</h1>" in page
    assert 'alt="Your photo 1 (flower)"' in page
    assert ">Your identifications</a>" in page


@pytest.mark.parametrize("viewer", ["signed_out", "bob"])
def test_public_result_reads_neutral_to_someone_else(app, client, auth, users, ready, viewer):
    ident = _shared_by_alice(client, auth)
    other = app.test_client() if viewer == "signed_out" else _signed_in(app, "bob@example.com")
    page = _main(other.get(f"/identifications/{ident.id}"))
    assert "<h1>A gardener&#39;s plant</h1>" in page
    assert 'alt="Photo 1 (flower)"' in page
    assert "Your " not in page and 'href="/identifications"' not in page


def test_photo_of_unstated_organ_shows_no_raw_auto(client, auth, users, ready):
    ident = _shared_by_alice(client, auth, organ="auto")
    page = _main(client.get(f"/identifications/{ident.id}"))
    assert 'alt="Your photo 1"' in page and "(auto)" not in page


# ---- history empty states and pages (M3, M4, M5) ---------------------------------------------------

def _make_history(user_id, count, *, confidence=0.3):
    now = utcnow()
    for i in range(count):
        db.session.add(Identification(owner_id=user_id, status="completed", cache_key=f"k{i}",
                                      confidence=confidence, created_at=now - timedelta(minutes=i)))
    db.session.commit()


def test_history_high_filter_without_matches_says_so_and_offers_all(client, auth, users):
    _make_history(users["alice"].id, 3, confidence=0.3)
    auth.login()
    page = client.get("/identifications?high=1").text
    assert "No identifications yet" not in page
    assert "No high-confidence results yet." in page
    assert re.search(r'<a href="/identifications">Show all identifications</a>', page)


def test_history_past_the_last_page_says_no_older_and_links_the_newest(client, auth, users):
    _make_history(users["alice"].id, 3)
    auth.login()
    oldest = db.session.scalars(select(Identification).order_by(Identification.created_at)).first()
    response = client.get("/identifications", query_string={"before": service._cursor(oldest)})
    assert "No identifications yet" not in response.text
    assert "No older identifications." in response.text
    assert re.search(r'<a href="/identifications">See the newest</a>', response.text)


def test_history_with_nothing_at_all_invites_a_first_identification(client, auth, users):
    auth.login()
    assert "No identifications yet." in client.get("/identifications").text


def test_history_pages_after_the_first_link_the_newest(client, auth, users):
    _make_history(users["alice"].id, service.PAGE_SIZE + 1, confidence=0.9)
    auth.login()
    first = client.get("/identifications?high=1").text
    assert ">Newest</a>" not in first
    older = html.unescape(re.search(r'href="([^"]+)"\s+hx-get="[^"]+"[^>]*>Older</a>', first).group(1))
    second = client.get(older, headers=HX).text
    newest = re.search(r'href="([^"]+)"\s+hx-get="([^"]+)"[^>]*hx-push-url="true">Newest</a>', second)
    assert newest and html.unescape(newest.group(1)) == html.unescape(newest.group(2)) == "/identifications?high=1"
    assert client.get("/identifications?high=1").text.count('href="/identifications/') == service.PAGE_SIZE


def test_history_cursor_not_written_by_the_site_shows_the_first_page(client, auth, users):
    _make_history(users["alice"].id, 2)
    auth.login()
    response = client.get("/identifications?before=not-a-cursor&high=1")
    assert response.status_code == 302 and response.headers["Location"] == "/identifications?high=1"


@pytest.mark.parametrize("query, ticked", [("", False), ("?high=1", True)])
def test_history_filter_box_is_ticked_by_the_address_alone(client, auth, users, query, ticked):
    auth.login()
    box = re.search(r'<input type="checkbox" name="high"[^>]*>', client.get("/identifications" + query).text).group(0)
    assert 'autocomplete="off"' in box
    assert ("checked" in box) is ticked


# ---- sharing (M6, M7) -------------------------------------------------------------------------------

def _signed_in_upload_at(client, auth, status):
    """Upload signed in, then set the identification's status as a job would have left it."""
    auth.login()
    post_upload(client, [images.jpeg()])
    ident = _ident()
    ident.status = status
    db.session.commit()
    return ident


@pytest.mark.parametrize("status", ["queued", "running", "failed"])
def test_sharing_is_not_offered_before_a_result(client, auth, users, ready, queued_only, status):
    ident = _signed_in_upload_at(client, auth, status)
    page = client.get(f"/identifications/{ident.id}").text
    assert "Share publicly" not in page and "/visibility" not in page


@pytest.mark.parametrize("status", ["queued", "running", "failed"])
def test_sharing_an_unfinished_identification_is_refused(client, auth, users, ready, queued_only, status):
    ident = _signed_in_upload_at(client, auth, status)
    response = client.post(f"/identifications/{ident.id}/visibility",
                           data={"public": "1", "csrf_token": page_token(client)})
    assert response.status_code == 409 and messages.SHARE_NOT_READY in response.text
    assert not _ident().is_public


def test_sharing_is_offered_with_the_finished_result(client, auth, users, ready):
    auth.login()
    post_upload(client, [images.jpeg()])
    ident = _ident()
    page = client.get(f"/identifications/{ident.id}").text
    assert "Share publicly" in page and messages.SHARE_PRIVATE in page
    # Drawn inside the progress region, so it also arrives with a result the socket or polling brings.
    region = client.get(f"/identifications/{ident.id}/progress").text
    assert "Share publicly" in region


def test_someone_else_gets_no_socket_for_a_public_unfinished_result(app, client, auth, users, ready, queued_only):
    auth.login()
    post_upload(client, [images.jpeg()])
    ident = _ident()
    ident.is_public = True  # shared, then asked again (an admin, or an older version)
    ident.status = "running"
    db.session.commit()
    assert "ws-connect=" in client.get(f"/identifications/{ident.id}").text
    page = app.test_client().get(f"/identifications/{ident.id}").text
    assert "ws-connect=" not in page and 'hx-ext="ws"' not in page
    assert f'hx-get="/identifications/{ident.id}/progress" hx-trigger="every 1s"' in page
    assert "Identifying this plant" in page and "your plant" not in page


def test_result_the_socket_sends_offers_sharing_with_a_link_to_the_page(app, live_server, users, ready):
    # A signed-in owner's socket draws the same region as the page, share form and address included.
    session = requests.Session()
    login = session.get(f"{live_server}/accounts/login", timeout=10).text
    session.post(f"{live_server}/accounts/login", data={"email": "alice@example.com", "password": PASSWORD,
                                                        "csrf_token": csrf_token(login)}, timeout=10)
    token = csrf_token(session.get(f"{live_server}/identify", timeout=10).text)
    body, content_type = encode_multipart([("photo", "p.jpg", images.jpeg()), ("csrf_token", None, token.encode())])
    ident_id = session.post(f"{live_server}/identify", data=body, headers={"Content-Type": content_type},
                            allow_redirects=False, timeout=30).headers["Location"].rsplit("/", 1)[1]
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)

    def first_frame():
        ws = SocketClient.connect(f"{live_server.replace('http://', 'ws://')}/identifications/{ident_id}/ws",
                                  headers={"Cookie": cookie, "Origin": live_server,
                                           # the same browser: "strong" session protection checks it
                                           "User-Agent": session.headers["User-Agent"]})
        try:
            return ws.receive(timeout=5)
        finally:
            try:
                ws.close()
            except (ConnectionClosed, OSError):  # a final state's socket closes after its one frame
                pass

    private = first_frame()
    assert 'data-status="completed"' in private and messages.SHARE_PRIVATE in private
    shared = session.post(f"{live_server}/identifications/{ident_id}/visibility",
                          data={"public": "1", "csrf_token": csrf_token(private)}, allow_redirects=False, timeout=10)
    assert shared.status_code == 303  # the token the socket drew is good for the form it drew
    # An http address, not the socket's ws one (this client sends its Host without the port).
    link = re.search(rf'{messages.SHARE_PUBLIC} <a href="([^"]+)">([^<]+)</a>', first_frame())
    assert link.group(1) == link.group(2)
    assert re.fullmatch(rf"http://127\.0\.0\.1(:\d+)?/identifications/{ident_id}", link.group(1))


def test_sharing_without_javascript_says_who_can_see_it(client, auth, users, ready):
    auth.login()
    post_upload(client, [images.jpeg()])
    ident = _ident()
    shared = client.post(f"/identifications/{ident.id}/visibility",
                         data={"public": "1", "csrf_token": page_token(client)}, follow_redirects=True)
    link = f"http://localhost/identifications/{ident.id}"
    assert f'{messages.SHARE_PUBLIC} <a href="{link}">{link}</a>' in shared.text
    assert "Make private" in shared.text and messages.SHARE_PRIVATE not in shared.text
    private = client.post(f"/identifications/{ident.id}/visibility",
                          data={"public": "0", "csrf_token": page_token(client)}, follow_redirects=True)
    assert messages.SHARE_PRIVATE in private.text and messages.SHARE_PUBLIC not in private.text
    assert "Share publicly" in private.text


def test_sharing_with_htmx_answers_the_sharing_region_in_a_polite_live_region(client, auth, users, ready):
    auth.login()
    post_upload(client, [images.jpeg()])
    ident = _ident()
    region_id = f"identification-{ident.id}-share"
    page = client.get(f"/identifications/{ident.id}").text
    form = re.search(r'<form method="post" action="/identifications/[^"]+/visibility"[^>]*>', page).group(0)
    assert f'hx-target="#{region_id}"' in form and 'hx-swap="outerHTML"' in form
    # The region sits in the page's polite live wrapper, which stays when the region is replaced.
    live = page.index('aria-live="polite">\n  <section id="identification-')
    assert live < page.index(f'id="{region_id}"') < page.index("</main>")
    response = client.post(f"/identifications/{ident.id}/visibility",
                           data={"public": "1", "csrf_token": page_token(client)}, headers=HX)
    assert response.status_code == 200 and "<html" not in response.text
    assert response.text.strip().startswith(f'<div id="{region_id}"')
    assert messages.SHARE_PUBLIC in response.text and "Make private" in response.text
    assert "identify-result" not in response.text  # the region alone, not the result again


# ---- location (M9) ----------------------------------------------------------------------------------

def test_location_is_shown_to_the_owner_only(app, client, auth, users, ready):
    ident = _shared_by_alice(client, auth, extra={"latitude": "51.50722", "longitude": "-0.1275"})
    assert (ident.latitude, ident.longitude) == (51.50722, -0.1275)
    mine = client.get(f"/identifications/{ident.id}").text
    assert "Where you found it: latitude 51.50722, longitude -0.1275" in mine
    for other in (app.test_client(), _signed_in(app, "bob@example.com")):
        page = other.get(f"/identifications/{ident.id}").text
        assert "Where you found it" not in page and "51.50722" not in page and "-0.1275" not in page


# ---- sign in from a page (M11) ----------------------------------------------------------------------

def _nav_link(page, name):
    return html.unescape(re.search(rf'<a (?:class="[^"]+" )?href="([^"]+)">{name}</a>', page).group(1))


def test_sign_in_and_join_links_come_back_to_the_page(app, client, ready, users):
    post_upload(client, [images.jpeg()])
    ident = _ident()
    here = f"/identifications/{ident.id}"
    page = client.get(here).text
    for name, endpoint in (("Sign in", "/accounts/login"), ("Join", "/accounts/register")):
        link = urlsplit(_nav_link(page, name))
        assert link.path == endpoint and parse_qs(link.query) == {"next": [here]}
    history = client.get("/identifications?high=1").text
    assert parse_qs(urlsplit(_nav_link(history, "Sign in")).query) == {"next": ["/identifications?high=1"]}
    # The sign-in page passes its own on (its Join link too), and the home page needs none.
    login = client.get(_nav_link(page, "Sign in")).text
    assert parse_qs(urlsplit(_nav_link(login, "Join")).query) == {"next": [here]}
    assert _nav_link(app.test_client().get("/").text, "Sign in") == "/accounts/login"
    response = client.post(_nav_link(page, "Sign in"), data={
        "email": "alice@example.com", "password": PASSWORD, "csrf_token": page_token(client)})
    assert response.status_code == 303 and response.headers["Location"] == here
    # Identified signed out, it is now the account's: the page reads as the owner's.
    assert "<h1>Your plant</h1>" in client.get(here).text


def test_result_shown_in_place_of_the_upload_form_signs_in_back_to_itself(client, ready):
    post_upload(client, [images.jpeg()])
    response = post_upload(client, [images.jpeg()], headers=HX)  # the cache answers: the page comes in place
    second = db.session.scalars(select(Identification).order_by(Identification.created_at.desc())).first()
    assert response.headers["HX-Push-Url"] == f"/identifications/{second.id}"
    assert _nav_link(response.text, "Sign in") == f"/accounts/login?next=/identifications/{second.id}"


# ---- photo caching (M14) ----------------------------------------------------------------------------

def test_public_photos_are_cached_briefly_by_others_and_long_by_the_owner(app, client, auth, users, ready):
    ident = _shared_by_alice(client, auth)
    for path in (f"/identifications/{ident.id}/images/0", f"/identifications/{ident.id}/images/0/thumb"):
        assert client.get(path).headers["Cache-Control"] == "private, max-age=86400"
        for other in (app.test_client(), _signed_in(app, "bob@example.com")):
            response = other.get(path)
            assert response.status_code == 200 and response.headers["Cache-Control"] == "private, max-age=300"


def test_each_suggestion_links_to_its_species_page(client, ready):
    post_upload(client, [images.jpeg()])
    ident = _ident()
    top = ident.suggestions[0].species
    top.slug = "renamed-by-an-editor"  # the species' own address, not one made from the name
    db.session.commit()
    page = client.get(f"/identifications/{ident.id}").text
    assert f'<a href="/species/renamed-by-an-editor"><em>{ident.suggestions[0].scientific_name}</em></a>' in page
    linked = [s for s in ident.suggestions if s.species is not None]
    assert len(linked) > 1
    for suggestion in linked[1:]:
        assert f'<a href="/species/{suggestion.species.slug}"><em>{suggestion.scientific_name}</em></a>' in page


def test_history_marks_a_partial_result(app, client, fake_providers):
    fake_providers.set_mode("plantnet", "500")
    post_upload(client, [images.jpeg(color=(90, 20, 140))])
    fake_providers.reset()
    post_upload(client, [images.jpeg(color=(20, 90, 140))])
    listing = client.get("/identifications").text.split('<ul class="identify-history">')[1].split("</ul>")[0]
    entries = re.findall(r"<li>(.*?)</li>", listing, re.DOTALL)
    assert len(entries) == 2
    newest, partial = entries
    assert '<span class="badge">partial</span>' in partial and "partial" not in newest
