"""Result pages, privacy, sharing, photos, history with keyset pagination, progress fragment and home section."""
import html
import os
import re
import socket
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core import messages
from app.core.models import utcnow
from app.extensions import db
from app.identify import service
from app.identify.models import Identification
from tests import image_factory as images
from tests.identify_helpers import page_token, post_upload


@pytest.fixture
def ready(app_ctx, fake_providers):
    return fake_providers


def _ident():
    return db.session.scalars(select(Identification)).one()


def test_result_page_shows_ranked_suggestions_and_agreement(client, ready):
    post_upload(client, [images.jpeg()])
    ident = _ident()
    page = client.get(f"/identifications/{ident.id}")
    assert page.status_code == 200
    assert ident.suggestions[0].scientific_name in page.text
    assert "confidence" in page.text
    assert "both services agree" in page.text or "suggested by" in page.text
    assert html.escape(messages.IDENTIFY_DEMO) in page.text  # the fakes are labelled as demo


def test_result_is_404_for_another_visitor(app, client, ready):
    post_upload(client, [images.jpeg()])
    ident = _ident()
    other = app.test_client()
    missing = other.get(f"/identifications/{uuid.uuid4()}")
    hidden = other.get(f"/identifications/{ident.id}")
    assert hidden.status_code == 404 and missing.status_code == 404
    main = lambda r: r.text.split("<main", 1)[1].split("</main>", 1)[0]  # noqa: E731
    assert main(hidden) == main(missing)


def test_photos_are_private_to_the_owner(app, client, ready):
    post_upload(client, [images.jpeg()])
    ident = _ident()
    assert client.get(f"/identifications/{ident.id}/images/0/thumb").mimetype == "image/jpeg"
    assert client.get(f"/identifications/{ident.id}/images/0").status_code == 200
    assert app.test_client().get(f"/identifications/{ident.id}/images/0").status_code == 404
    assert client.get(f"/identifications/{ident.id}/images/7").status_code == 404


def test_owner_can_share_and_then_anyone_sees_it(app, client, auth, users, ready):
    auth.login()
    post_upload(client, [images.jpeg()])
    ident = _ident()
    response = client.post(f"/identifications/{ident.id}/visibility", data={"public": "1", "csrf_token": page_token(client)})
    assert response.status_code == 303
    db.session.refresh(ident)
    assert ident.is_public
    assert app.test_client().get(f"/identifications/{ident.id}").status_code == 200
    home = app.test_client().get("/")
    assert "Recent public identifications" in home.text and ident.suggestions[0].scientific_name in home.text
    # The fakes answered it: a demo, labelled as such wherever it is listed.
    entry = home.text.split(f"/identifications/{ident.id}")[1].split("</li>")[0]
    assert "demo, not real" in entry

    # Made private again, it leaves the home page at once, not when the cached page expires.
    client.post(f"/identifications/{ident.id}/visibility", data={"public": "0", "csrf_token": page_token(client)})
    assert app.test_client().get(f"/identifications/{ident.id}").status_code == 404
    assert f"/identifications/{ident.id}" not in app.test_client().get("/").text


def test_someone_else_cannot_share_it(app, client, auth, users, ready):
    auth.login()
    post_upload(client, [images.jpeg()])
    ident = _ident()
    auth.logout()
    auth.login("bob@example.com")
    response = client.post(f"/identifications/{ident.id}/visibility", data={"public": "1", "csrf_token": page_token(client)})
    assert response.status_code == 404
    db.session.refresh(ident)
    assert not ident.is_public


def test_public_identification_resolves_as_a_forum_subject(app, client, auth, users, ready):
    auth.login()
    post_upload(client, [images.jpeg()])
    ident = _ident()
    resolve = app.extensions["discussables"]["identification"]
    with app.test_request_context():
        assert resolve(ident.id) is None
    ident.is_public = True
    db.session.commit()
    with app.test_request_context():
        title, url = resolve(ident.id)
    assert url == f"/identifications/{ident.id}" and ident.suggestions[0].scientific_name in title


def test_progress_fragment_polls_until_final_then_answers_286(client, ready):
    post_upload(client, [images.jpeg()])
    ident = _ident()
    ident.status = "running"
    db.session.commit()
    running = client.get(f"/identifications/{ident.id}/progress")
    assert running.status_code == 200 and 'hx-trigger="every 1s"' in running.text
    assert "<html" not in running.text
    ident.status = "completed"
    db.session.commit()
    done = client.get(f"/identifications/{ident.id}/progress")
    assert done.status_code == 286 and "every 1s" not in done.text


def test_running_page_connects_the_socket_and_refreshes_without_js(client, ready):
    post_upload(client, [images.jpeg()])
    ident = _ident()
    ident.status = "running"
    db.session.commit()
    page = client.get(f"/identifications/{ident.id}")
    assert f'ws-connect="/identifications/{ident.id}/ws"' in page.text
    assert '<noscript><meta http-equiv="refresh"' in page.text


def test_the_progress_region_sits_in_a_live_wrapper_that_is_not_replaced(client, ready):
    # Screen readers announce changes inside a live region that was there before them: the region
    # itself is swapped (outerHTML), so its wrapper is the live one, running or final.
    import re
    post_upload(client, [images.jpeg()])
    ident = _ident()
    live = re.compile(r'aria-live="polite">\s*<section id="identification-' + str(ident.id) + '-progress"')
    assert live.search(client.get(f"/identifications/{ident.id}").text)
    ident.status = "running"
    db.session.commit()
    assert live.search(client.get(f"/identifications/{ident.id}").text)


def test_detail_as_htmx_fragment_has_no_page_chrome(client, ready):
    post_upload(client, [images.jpeg()])
    response = client.get(f"/identifications/{_ident().id}", headers={"HX-Request": "true"})
    assert "<html" not in response.text and "identification-" in response.text


def _make_history(user_id, count):
    now = utcnow()
    for i in range(count):
        db.session.add(Identification(owner_id=user_id, status="completed", cache_key=f"k{i}",
                                      confidence=0.9 if i % 2 else 0.3, created_at=now - timedelta(minutes=i)))
    db.session.commit()


def test_history_is_newest_first_with_keyset_pages(client, auth, users):
    _make_history(users["alice"].id, 25)
    _make_history(users["bob"].id, 3)
    auth.login()
    first = client.get("/identifications")
    rows = db.session.scalars(select(Identification).where(Identification.owner_id == users["alice"].id)
                              .order_by(Identification.created_at.desc())).all()
    assert first.text.count('href="/identifications/') == 20
    assert first.text.index(str(rows[0].id)) < first.text.index(str(rows[1].id))
    assert "before=" in first.text
    next_url = first.text.split('href="/identifications?before=')[1].split('"')[0].replace("&amp;", "&")
    second = client.get("/identifications?before=" + next_url)
    assert second.text.count('href="/identifications/') == 5
    assert str(rows[24].id) in second.text and str(rows[0].id) not in second.text


def test_history_labels_the_fakes_demo_answers(client, auth, users):
    _make_history(users["alice"].id, 2)
    demo = db.session.scalars(select(Identification).order_by(Identification.created_at.desc())).first()
    demo.demo = True
    db.session.commit()
    auth.login()
    entries = client.get("/identifications").text.split('<li><a href="/identifications/')[1:]
    labelled = [entry.split("</li>")[0] for entry in entries if "demo, not real" in entry.split("</li>")[0]]
    assert len(entries) == 2 and len(labelled) == 1 and labelled[0].startswith(str(demo.id))


def test_history_high_confidence_filter(client, auth, users):
    _make_history(users["alice"].id, 6)
    auth.login()
    response = client.get("/identifications?high=1")
    assert response.text.count('href="/identifications/') == 3


def test_history_fragment_for_htmx(client, auth, users):
    _make_history(users["alice"].id, 2)
    auth.login()
    response = client.get("/identifications", headers={"HX-Request": "true"})
    assert "<html" not in response.text and 'id="identify-history"' in response.text


def test_older_history_gets_an_address_of_its_own(client, auth, users):
    # Pushed, so that Back returns to the newer page; the address, restored by htmx, is a whole page.
    _make_history(users["alice"].id, service.PAGE_SIZE + 1)
    auth.login()
    older = re.search(r'hx-get="([^"]+)"[^>]*hx-push-url="true">Older</a>', client.get("/identifications").text)
    restored = client.get(html.unescape(older.group(1)),
                          headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored.text and restored.text.count('href="/identifications/') == 1
    assert " UTC</time>" in restored.text


def test_anonymous_history_shows_this_session_only(app, client, ready):
    post_upload(client, [images.jpeg()])
    ident = _ident()
    assert str(ident.id) in client.get("/identifications").text
    assert str(ident.id) not in app.test_client().get("/identifications").text


def test_signing_in_keeps_what_was_identified_signed_out(app, client, auth, users, ready):
    post_upload(client, [images.jpeg()])
    mine = _ident()
    other_browser = app.test_client()
    post_upload(other_browser, [images.png()])
    theirs = db.session.scalars(select(Identification).where(Identification.id != mine.id)).one()
    auth.login()
    db.session.expire_all()
    assert mine.owner_id == users["alice"].id and mine.session_key is None
    assert theirs.owner_id is None and theirs.session_key  # another browser's stays anonymous
    assert str(mine.id) in client.get("/identifications").text
    assert client.get(f"/identifications/{mine.id}").status_code == 200
    assert client.get(f"/identifications/{theirs.id}").status_code == 404


def test_registering_keeps_what_was_identified_signed_out(client, ready):
    post_upload(client, [images.jpeg()])
    ident = _ident()
    response = client.post("/accounts/register", data={
        "email": "new@example.com", "display_name": "New", "password": "a long and unusual passphrase 42",
        "confirm": "a long and unusual passphrase 42", "csrf_token": page_token(client)})
    assert response.status_code == 303
    db.session.expire_all()
    from app.accounts.models import User
    user = db.session.scalars(select(User).where(User.email == "new@example.com")).one()
    assert ident.owner_id == user.id
    assert str(ident.id) in client.get("/identifications").text


def test_nav_has_identify_link(client, app_ctx):
    assert 'href="/identify"' in client.get("/").text


def test_fake_providers_command_listens_on_the_port_asked_for(app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "FLASK_APP": "wsgi.py", "VERDANT_ENV": "testing"}
    command = [sys.executable, "-m", "flask", "fake-providers", "--port", str(port)]
    with subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, text=True) as server:
        try:
            lines = [server.stdout.readline() for _ in range(3)]
            assert f"export PLANTID_BASE_URL=http://127.0.0.1:{port}" in "".join(lines), lines
        finally:
            server.terminate()


def test_fake_providers_on_a_taken_port_say_which_option_to_use(capsys):
    from app.providers.fakes import main
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["--port", str(taken.getsockname()[1])]) == 1
    assert "choose another port with --port" in capsys.readouterr().err


@pytest.fixture
def queued_only(app, monkeypatch):
    """Queue jobs without running them: the test runs the identification, then (or not) the enrichment."""
    from rq import Queue
    redis = app.extensions["redis"]
    monkeypatch.setitem(app.extensions, "queues", {n: Queue(n, connection=redis) for n in ("fast", "slow")})
    return app.extensions["queues"]


def _identified(client):
    post_upload(client, [images.jpeg(color=(20, 140, 70))])
    service.run_identification(_ident().id)
    ident = _ident()
    db.session.refresh(ident)
    return ident


def _care_of(client, ident):
    return client.get(f"/identifications/{ident.id}/care")


def test_care_notes_being_written_are_asked_for_until_they_arrive(client, ready, queued_only):
    from app.species import service as species_service
    ident = _identified(client)
    name = ident.suggestions[0].scientific_name
    page = client.get(f"/identifications/{ident.id}").text
    care_url = f"/identifications/{ident.id}/care"
    assert f'hx-get="{care_url}"' in page and "being written" in page
    waiting = _care_of(client, ident)
    assert waiting.status_code == 200 and f'hx-get="{care_url}"' in waiting.text and name in waiting.text
    [job] = queued_only["slow"].jobs
    species_service.enrich_species(uuid.UUID(job.args[0]))
    done = _care_of(client, ident)
    care = ident.suggestions[0].species.care_text
    assert done.status_code == 286 and "hx-get" not in done.text
    assert f"How to care for <em>{name}</em>" in done.text and care["overview"] in done.text
    # The whole guide, not only its text values: sections that are objects or lists of text too.
    assert f'<span class="care-part">Frequency:</span> {care["water"]["frequency"]}' in done.text
    assert care["light"]["requirement"] in done.text and "pH:" in done.text
    assert f"<li>{care['common_problems'][0]}</li>" in done.text
    page = client.get(f"/identifications/{ident.id}").text
    assert care["overview"] in page and care_url not in page


def test_care_stops_being_asked_for_when_enrichment_wrote_none(client, ready, queued_only):
    from app.species import service as species_service
    ident = _identified(client)
    ready.set_mode("openai", "500")
    [job] = queued_only["slow"].jobs
    species_service.enrich_species(uuid.UUID(job.args[0]))
    answer = _care_of(client, ident)
    assert answer.status_code == 286
    assert "hx-get" not in answer.text and "being written" not in answer.text and " hidden>" in answer.text


def test_care_is_not_awaited_long_after_the_result_or_without_openai(app, client, ready, queued_only, monkeypatch):
    ident = _identified(client)
    ident.finished_at = utcnow() - timedelta(minutes=3)
    db.session.commit()
    assert _care_of(client, ident).status_code == 286
    assert "/care" not in client.get(f"/identifications/{ident.id}").text
    ident.finished_at = utcnow()
    db.session.commit()
    assert _care_of(client, ident).status_code == 200
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", "")
    assert _care_of(client, ident).status_code == 286
    assert "/care" not in client.get(f"/identifications/{ident.id}").text


def test_care_of_someone_elses_identification_is_404(app, client, ready, queued_only):
    ident = _identified(client)
    assert app.test_client().get(f"/identifications/{ident.id}/care").status_code == 404
    assert client.get(f"/identifications/{uuid.uuid4()}/care").status_code == 404
