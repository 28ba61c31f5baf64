"""On a phone: open a species-like page, scroll to its discussion, reply; a second reader sees it live."""
import threading
import uuid

import pytest
from flask import Blueprint, abort, render_template_string
from werkzeug.serving import make_server

from app.core.registry import register_discussable
from app.extensions import db
from config import TestingConfig
from tests.conftest import _free_port
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

HOST_PAGE = """{% extends "base.html" %}
{% block content %}
<h1>{{ title }}</h1>
{% for n in range(40) %}<p>Care note {{ n }}: water when the top of the soil is dry.</p>{% endfor %}
{% if has_endpoint('forum.embed') %}<section id="discussion" class="discussion" hx-get="{{ url_for('forum.embed', subject_type='plant', subject_id=subject_id) }}" hx-trigger="revealed" hx-swap="innerHTML"><a href="{{ url_for('forum.subject_thread', subject_type='plant', subject_id=subject_id) }}">Discussion</a></section>{% endif %}
{% endblock %}"""


@pytest.fixture
def host(app, make_app, users):
    """A second app over the same database with a tiny plant page that hosts a discussion."""
    subject_id = uuid.uuid4()
    plants = {subject_id: "Monstera deliciosa"}
    host_app = make_app(TestingConfig)
    host_app.config["MEDIA_ROOT"] = app.config["MEDIA_ROOT"]
    bp = Blueprint("plants_demo", __name__)

    @bp.get("/plants/<uuid:plant_id>")
    def plant(plant_id):
        if plant_id not in plants:
            abort(404)
        return render_template_string(HOST_PAGE, title=plants[plant_id], subject_id=plant_id)

    host_app.register_blueprint(bp)
    register_discussable(host_app, "plant",
                         lambda sid: (plants[sid], f"/plants/{sid}") if sid in plants else None)
    server = make_server("127.0.0.1", _free_port(), host_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", subject_id
    server.shutdown()
    thread.join(timeout=5)
    with host_app.app_context():
        db.session.remove()


def _login(page, base, email):
    page.goto(f"{base}/accounts/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_reply_in_embedded_thread_appears_for_second_reader(page, browser, host):
    base, subject_id = host
    plant_url = f"{base}/plants/{subject_id}"
    _login(page, base, "bob@example.com")

    reader = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                 has_touch=True, java_script_enabled=page.js_enabled).new_page()
    reader.set_default_timeout(10_000)
    try:
        reader.goto(plant_url)
        if page.js_enabled:
            reader.locator("#discussion").scroll_into_view_if_needed()
            reader.get_by_text("No replies yet.").wait_for()
            reader.evaluate("window.__stillHere = true")

        page.goto(plant_url)
        if page.js_enabled:
            page.locator("#discussion").scroll_into_view_if_needed()
            page.get_by_role("heading", name="Discussion 0 replies").wait_for()
        else:
            page.get_by_role("link", name="Discussion").click()
            page.wait_for_url(f"{base}/forum/about/plant/{subject_id}")
        page.get_by_label("Your reply").fill("Mine loves a bright window. **Rotate** it weekly.")
        page.get_by_role("button", name="Post reply").click()
        page.locator(".post-body", has_text="Mine loves a bright window").wait_for()
        if page.js_enabled:
            page.get_by_role("heading", name="Discussion 1 reply").wait_for()
            assert page.get_by_label("Your reply").input_value() == ""

        if page.js_enabled:
            # The reader never reloads: polling brings the reply in.
            reader.locator(".post-body", has_text="Mine loves a bright window").wait_for(timeout=10_000)
            assert reader.evaluate("window.__stillHere") is True
            assert reader.locator("#discussion strong", has_text="Rotate").count() == 1
        else:
            reader.goto(f"{base}/forum/about/plant/{subject_id}")
            assert reader.locator(".post-body", has_text="Mine loves a bright window").count() == 1
            assert reader.get_by_role("link", name="Back to Monstera deliciosa").count() == 1
    finally:
        reader.context.close()
