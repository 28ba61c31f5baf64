"""Static files: URLs versioned by content, cached for long only under their current version."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import url_for

from config import TestingConfig

STATIC_URL_RE = re.compile(r'(?:src|href)="(/static/[^"]+)"')
YEAR = 365 * 24 * 3600


def _static_urls(html):
    return [url.replace("&amp;", "&") for url in STATIC_URL_RE.findall(html)]


def _version(url):
    return parse_qs(urlsplit(url).query).get("v", [None])[0]


def _is_long_lived(response):
    cache = response.cache_control
    return cache.max_age == YEAR and cache.immutable and cache.public and not cache.no_cache


@pytest.fixture
def page_urls(client):
    return _static_urls(client.get("/").text)


def test_static_urls_of_a_page_carry_a_version(page_urls):
    assert len(page_urls) >= 6  # stylesheets, icons, htmx and its extension, upload.js
    assert all(_version(url) for url in page_urls), page_urls


def test_scripts_keep_their_nonce_and_load_from_the_site_with_a_version(client):
    response = client.get("/")
    assert "script-src 'self' 'nonce-" in response.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script [^>]*>", response.text)
    assert scripts
    for tag in scripts:
        src = re.search(r'src="([^"]+)"', tag).group(1)
        assert 'nonce="' in tag and src.startswith("/static/") and _version(src), tag


def test_versioned_static_file_is_cached_for_a_year_as_immutable(client, page_urls):
    for url in page_urls:
        response = _fetch(client, url)
        assert response.status_code == 200, url
        assert _is_long_lived(response), (url, response.headers["Cache-Control"])


@pytest.mark.parametrize("query", ["", "?v=0123456789ab", "?v="])
def test_static_file_without_its_current_version_is_revalidated(client, query):
    response = _fetch(client, f"/static/css/app.css{query}")
    assert response.status_code == 200
    assert response.cache_control.no_cache and not response.cache_control.max_age
    # Control: the same file under its version is kept.
    assert _is_long_lived(_fetch(client, _versioned(client, "static", "css/app.css")))


def test_revalidating_a_versioned_file_answers_304_and_keeps_it_long_lived(client, page_urls):
    url = next(url for url in page_urls if "/css/app.css" in url)
    etag = _fetch(client, url).headers["ETag"]
    response = _fetch(client, url, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert _is_long_lived(response)


def test_revalidating_an_unversioned_file_answers_304_and_asks_again_next_time(client):
    etag = _fetch(client, "/static/css/app.css").headers["ETag"]
    response = _fetch(client, "/static/css/app.css", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.cache_control.no_cache and not response.cache_control.max_age
    assert _version(_versioned(client, "static", "css/app.css"))


def test_admin_static_files_are_versioned_by_content_and_kept(client):
    url = _versioned(client, "admin.static", "vendor/jquery.min.js", v="3.5.1")
    assert _version(url) not in (None, "3.5.1")
    response = _fetch(client, url)
    assert response.status_code == 200 and _is_long_lived(response)


def test_changed_file_gets_a_new_version_in_a_new_process(make_app, tmp_path):
    (tmp_path / "site.css").write_text("body { color: green; }")
    before = _app_with_static(make_app, tmp_path)
    old_url = _versioned(before.test_client(), "static", "site.css")

    (tmp_path / "site.css").write_text("body { color: olive; }")
    # A process reads each file once: until it restarts (a deploy), it keeps the version it computed.
    assert _versioned(before.test_client(), "static", "site.css") == old_url
    after = _app_with_static(make_app, tmp_path)
    client = after.test_client()
    new_url = _versioned(client, "static", "site.css")

    assert _version(new_url) and _version(new_url) != _version(old_url)
    assert _is_long_lived(_fetch(client, new_url))
    # A page rendered before the deploy asks with the old version: the new content must not be kept.
    stale = _fetch(client, old_url)
    assert b"olive" in stale.data and not _is_long_lived(stale) and stale.cache_control.no_cache


def _fetch(client, url, **kwargs):
    # Buffered, so the file the response streams is read and closed.
    return client.get(url, buffered=True, **kwargs)


def _app_with_static(make_app, folder):
    app = make_app(TestingConfig)
    app.static_folder = str(folder)
    return app


def _versioned(client, endpoint, filename, **values):
    with client.application.test_request_context():
        return url_for(endpoint, filename=filename, **values)
