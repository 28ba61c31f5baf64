"""Route-coverage meta-tests: a new route without a decision about access and CSRF fails here."""
import uuid

import pytest
from flask_admin import BaseView

# Views anyone may open without signing in.
PUBLIC_ENDPOINTS = {
    "static", "core.home", "core.healthz", "core.readyz", "core.metrics", "core.ceiling",
    "core.csp_report", "accounts.register", "accounts.login", "accounts.logout",
    "species.browse", "species.popular", "species.detail", "search.search", "search.suggest",
    "forum.index", "forum.category", "forum.thread", "forum.poll", "forum.embed",
    "forum.subject_thread", "forum.subject_poll", "forum.post_history", "forum.member",
    "forum.image", "notifications.unsubscribe", "notifications.unsubscribe_confirm",
    "blog.index", "blog.post", "blog.category", "blog.tag", "blog.series", "blog.author",
    "blog.image", "blog.rss", "blog.atom", "blog.category_rss", "blog.category_atom",
    "blog.sitemap", "blog.robots",
    # Anonymous visitors may identify; their results are theirs through the session.
    "identify.upload", "identify.submit", "identify.history",
    # A websocket rule never matches a plain GET (400); guard_socket refuses strangers with 403.
    "identify.progress_socket",
}
# State-changing routes that do not use the session's CSRF token, and why.
CSRF_EXEMPT = {
    "core.csp_report": "browsers send violation reports without cookies or tokens",
    "notifications.unsubscribe_confirm": "RFC 8058 one-click POST from mail clients; the signed "
                                         "token in the URL is the credential",
}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _rules(app):
    return [rule for rule in app.url_map.iter_rules() if not rule.endpoint.startswith("_")]


def _url(rule) -> str:
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__
        values[arg] = {"UUIDConverter": uuid.uuid4(), "IntegerConverter": 0}.get(converter, "x")
    return rule.build(values, append_unknown=False)[1]


def test_every_view_is_protected_or_listed_public(app, client):
    unprotected = []
    for rule in _rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.startswith("admin"):
            continue
        method = "GET" if "GET" in rule.methods else sorted(rule.methods & STATE_CHANGING)[0]
        with app.test_client() as anon:
            if method != "GET":
                app.config["WTF_CSRF_ENABLED"] = False
            try:
                response = anon.open(_url(rule), method=method)
            finally:
                app.config["WTF_CSRF_ENABLED"] = True
        signed_out = response.status_code == 302 and "/accounts/login" in response.headers["Location"]
        if not (signed_out or response.status_code in (401, 403, 404)):
            unprotected.append((rule.endpoint, response.status_code))
    assert unprotected == []


def test_every_state_changing_route_checks_csrf(app, client, users, auth):
    auth.login("admin@example.com")  # past any login check, so CSRF is what refuses
    unchecked = []
    for rule in _rules(app):
        methods = rule.methods & STATE_CHANGING
        if not methods or rule.endpoint in CSRF_EXEMPT:
            continue
        for method in methods:
            response = client.open(_url(rule), method=method, data={"x": "1"})
            if response.status_code != 400:
                unchecked.append((rule.endpoint, method, response.status_code))
    assert unchecked == []


def test_exempt_lists_name_real_endpoints(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(CSRF_EXEMPT) <= endpoints
    assert PUBLIC_ENDPOINTS <= endpoints


def test_every_admin_view_defines_is_accessible(app):
    admin = app.extensions["admin"][0]
    views = [admin.index_view, *admin._views]
    missing = [type(v).__name__ for v in views if type(v).is_accessible is BaseView.is_accessible]
    assert missing == []


@pytest.mark.parametrize("path", ["/admin/", "/admin/admin_users/"])
def test_admin_routes_need_admin(client, path):
    assert client.get(path).status_code == 302
