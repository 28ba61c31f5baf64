"""Markdown rendering: extensions, sanitiser allowlist, XSS payloads, mentions, text helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from app.core.markdown import (
    ALLOWED_TAGS,
    find_mentions,
    plain_text,
    reading_time_minutes,
    render_markdown,
    sanitize_html,
)

EVIL_CARD = (
    '<div class="card" onclick="alert(1)" hx-get="/admin/delete" hx-trigger="load" '
    'data-hx-post="/x" style="color:red"><script>alert(1)</script>'
    '<a href="javascript:alert(1)" onmouseover="alert(1)">x</a>'
    '<img src="x" onerror="alert(1)"><span hx-on::load="alert(1)">s</span></div>'
)
FORBIDDEN_TAGS = (
    "<script", "<iframe", "<svg", "<style", "<form", "<object", "<embed", "<math",
    "<base", "<meta", "<link", "<input", "<button", "<textarea", "<details",
)  # fmt: skip

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(1)" style="x:expression(alert(1))">',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](java%09script:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](  javascript:alert(1) 'title')",
    "[x](<javascript:alert(1)>)",
    "[x](vbscript:msgbox(1))",
    "![x](javascript:alert(1))",
    "![x](vbscript:alert(1))",
    '![x"onerror="alert(1)](https://example.com/a.png)',
    '[x](https://example.com/"onmouseover="alert(1))',
    '[x](https://example.com "t\\" onclick=\\"alert(1)")',
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a hx-get="/x" hx-trigger="load">x</a>',
    '<div data-hx-post="/account/delete" data-hx-trigger="load">x</div>',
    '<div hx-on::load="alert(1)">x</div>',
    "<div hx-on:click=\"alert(1)\" hx-vals='js:{a: alert(1)}'>x</div>",
    "<style>@import 'https://evil.example/x.css';</style>",
    '<form action="/account/delete" method="post"><button>Win</button></form>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<details open ontoggle="alert(1)">x</details>',
    '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "[x][evil]\n\n[evil]: javascript:alert(1)",
    "[x][evil]\n\n[evil]: &#x6A;avascript:alert(1)",
    "[x][evil]\n\n[evil]: <javascript:alert(1)> 'title'",
    "Note[^1]\n\n[^1]: [y](javascript:alert(1)) <script>alert(1)</script>",
    "Note^[<img src=x onerror=alert(1)>]",
    "[^<script>alert(1)</script>]\n\n[^<script>alert(1)</script>]: x",
    "| a |\n|---|\n| <script>alert(1)</script> [x](javascript:alert(1)) |",
    "# <img src=x onerror=alert(1)>",
    '```"><script>alert(1)</script>\ncode\n```',
    "```hx-get=/x onload=alert(1)\ncode\n```",
    '![x](https://example.com/a.png "<script>alert(1)</script>")',
    "[<img src=x onerror=alert(1)>](https://example.com)",
    "`<script>alert(1)</script>`",
]


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, [(name, value or "") for name, value in attrs]))

    handle_startendtag = handle_starttag


def _tags(html: str) -> list[tuple[str, list[tuple[str, str]]]]:
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser.tags


def _bare_url(value: str) -> str:
    # HTMLParser has decoded entities once; decode again in case they were double-encoded.
    return re.sub(r"[\x00-\x20\x7f]+", "", unescape(unquote(value))).lower()


def assert_safe(html: str) -> None:
    lowered = html.lower()
    for tag in FORBIDDEN_TAGS:
        assert tag not in lowered
    # Text nodes and quoted titles may quote a payload harmlessly; what a browser acts on is
    # the tags, the attribute names and the URLs, so those are what is checked.
    names = ""
    for tag, attrs in _tags(html):
        assert tag in ALLOWED_TAGS
        for name, value in attrs:
            assert not name.startswith(("on", "hx-", "data-")) and name != "style"
            assert "javascript:" not in _bare_url(value)
            assert not re.match(r"(javascript|vbscript|data|file):", _bare_url(value))
        names += "<" + tag + "".join(f' {name}=""' for name, _ in attrs) + ">"
    assert not re.search(r"\son\w+=", names, re.IGNORECASE)
    assert not re.search(r"\s(data-)?hx-[\w:.-]*=", names, re.IGNORECASE)


def _card(kind: str, slug: str) -> str | None:
    if slug == "unknown":
        return None
    return (
        f'<div class="species-card"><a class="species-card__link" href="/species/{slug}">'
        f'<img class="species-card__img" src="/media/{slug}.jpg" alt="{slug}">'
        f'<span class="species-card__name">{kind}:{slug}</span></a></div>'
    )


def _profile(name: str) -> str | None:
    return None if name == "ghost" else f"/users/{name}"


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_render_markdown_neutralises_xss_payload(payload: str) -> None:
    assert_safe(render_markdown(payload, shortcodes=_card, mentions=_profile))


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_sanitize_html_neutralises_xss_payload(payload: str) -> None:
    assert_safe(sanitize_html(payload))


def test_xss_payload_list_is_long_enough() -> None:
    assert len(XSS_PAYLOADS) >= 25


@pytest.mark.parametrize(
    "source", ["[[species:evil]]", "Look: [[species:evil]] here", "- [[species:evil]]"]
)
def test_render_markdown_sanitises_shortcode_html(source: str) -> None:
    html = render_markdown(source, shortcodes=lambda kind, slug: EVIL_CARD)
    assert_safe(html)
    assert '<div class="card">' in html


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
    ],
)
def test_render_markdown_drops_unsafe_mention_url(url: str) -> None:
    html = render_markdown("hi @alice", mentions=lambda name: url)
    assert_safe(html)
    assert "@alice" in html


def test_render_markdown_escapes_raw_html() -> None:
    assert render_markdown("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("**b** *i*", "<p><strong>b</strong> <em>i</em></p>", id="emphasis"),
        pytest.param("~~gone~~", "<p><s>gone</s></p>", id="strikethrough"),
        pytest.param(
            '[docs](https://example.com/a?b=1&c=2 "Docs")',
            '<a href="https://example.com/a?b=1&amp;c=2" title="Docs" '
            'rel="noopener noreferrer">docs</a>',
            id="link",
        ),
        pytest.param(
            "[me](mailto:a@example.com)",
            '<a href="mailto:a@example.com" rel="noopener noreferrer">',
            id="mailto",
        ),
        pytest.param(
            "[care](/species/ficus#light)",
            '<a href="/species/ficus#light" rel="noopener noreferrer">',
            id="relative-link",
        ),
        pytest.param(
            "<https://example.com>",
            '<a href="https://example.com" rel="noopener noreferrer">https://example.com</a>',
            id="autolink",
        ),
        pytest.param(
            "![A leaf](https://example.com/a.png)",
            '<p><img src="https://example.com/a.png" alt="A leaf" loading="lazy"></p>',
            id="image",
        ),
        pytest.param(
            "![A leaf](/media/a.png)",
            '<img src="/media/a.png" alt="A leaf" loading="lazy">',
            id="relative-image",
        ),
        pytest.param(
            '![A leaf](https://example.com/a.png "New growth in May")',
            '<figure><img src="https://example.com/a.png" alt="A leaf" loading="lazy">'
            "<figcaption>New growth in May</figcaption></figure>",
            id="figure-caption",
        ),
        pytest.param(
            '![a](/a.png "caption <b>&</b>")',
            "<figcaption>caption &lt;b&gt;&amp;&lt;/b&gt;</figcaption>",
            id="figure-caption-escaped",
        ),
        pytest.param(
            'Text ![a](/a.png "tip") more',
            '<p>Text <img src="/a.png" alt="a" title="tip" loading="lazy"> more</p>',
            id="image-in-text-keeps-title",
        ),
        pytest.param(
            "| Plant | Water |\n|:--|--:|\n| Fern | 200 ml |",
            '<th align="left">Plant</th>\n<th align="right">Water</th>',
            id="table-alignment",
        ),
        pytest.param("| a |\n|---|\n| 1 |", "<table>\n<thead>\n<tr>\n<th>a</th>", id="table"),
        pytest.param(
            "```python\ndef water(plant):\n    return 250\n```",
            '<pre class="highlight"><code class="language-python"><span class="k">def</span>',
            id="fence-python",
        ),
        pytest.param("```py\nx = 1\n```", '<code class="language-python">', id="fence-alias"),
        pytest.param(
            "```js\nlet a = 1;\n```", '<code class="language-javascript">', id="fence-javascript"
        ),
        pytest.param(
            "```klingon\n<b>x</b>\n```",
            "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>",
            id="fence-unknown-language",
        ),
        pytest.param(
            "```\n<b>x</b>\n```",
            "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>",
            id="fence-no-language",
        ),
        pytest.param(
            "    <b>x</b>", "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>", id="indented-code"
        ),
        pytest.param("`a < b`", "<code>a &lt; b</code>", id="code-span"),
        pytest.param(
            "Water weekly[^1].\n\n[^1]: Less in winter.",
            '<sup class="footnote-ref"><a href="#fn1" id="fnref1" '
            'rel="noopener noreferrer">[1]</a></sup>',
            id="footnote-ref",
        ),
        pytest.param(
            "Water weekly[^1].\n\n[^1]: Less in winter.",
            '<section class="footnotes">\n<ol>\n'
            '<li id="fn1" class="footnote-item"><p>Less in winter.',
            id="footnote-list",
        ),
        pytest.param(
            "Mist^[Only ferns.]",
            '<li id="fn1" class="footnote-item"><p>Only ferns.',
            id="footnote-inline",
        ),
        pytest.param(
            "## Watering schedule",
            '<h2 id="watering-schedule">Watering schedule</h2>',
            id="heading-id",
        ),
        pytest.param(
            "# Light\n\n# Light",
            '<h1 id="light">Light</h1>\n<h1 id="light-1">Light</h1>',
            id="heading-id-unique",
        ),
        pytest.param(
            "#### Deep `code`",
            '<h4 id="deep-code">Deep <code>code</code></h4>',
            id="heading-id-deep",
        ),
        pytest.param("3. three\n4. four", '<ol start="3">', id="ordered-list-start"),
        pytest.param("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>", id="blockquote"),
        pytest.param("a\n\n---\n\nb", "<hr>", id="hr"),
        pytest.param("line  \nbreak", "<p>line<br>\nbreak</p>", id="hardbreak"),
    ],
)
def test_render_markdown_keeps_legitimate_content(source: str, expected: str) -> None:
    html = render_markdown(source)
    assert expected in html
    assert_safe(html)


@pytest.mark.parametrize(
    ("source", "absent"),
    [
        pytest.param("[x](ftp://example.com/f)", 'href="ftp:', id="ftp-link"),
        pytest.param("![x](mailto:a@example.com)", 'src="mailto:', id="mailto-image"),
        pytest.param("![x](data:image/png;base64,iVBORw0KGgo=)", 'src="data:', id="data-image"),
        pytest.param("```nonsense class=evil\nx\n```", "nonsense", id="user-language-class"),
        pytest.param("| a |\n|:-:|\n| b |", "style=", id="table-inline-style"),
    ],
)
def test_render_markdown_drops_disallowed_attribute(source: str, absent: str) -> None:
    assert absent not in render_markdown(source)


@pytest.mark.parametrize(
    ("nofollow", "rel"),
    [(False, 'rel="noopener noreferrer"'), (True, 'rel="noopener noreferrer nofollow ugc"')],
)
def test_render_markdown_sets_link_rel(nofollow: bool, rel: str) -> None:
    html = render_markdown("[a](https://example.com) [b](/local)", nofollow=nofollow)
    assert html.count(rel) == 2


def test_render_markdown_omits_heading_ids_when_anchors_off() -> None:
    assert render_markdown("## Light", heading_anchors=False) == "<h2>Light</h2>\n"


def test_render_markdown_scopes_ids_with_doc_id() -> None:
    html = render_markdown("## Light\n\nSun[^1]\n\n[^1]: Bright.", doc_id="post-7")
    assert '<h2 id="post-7-light">' in html
    assert '<a href="#fn-post-7-1" id="fnref-post-7-1"' in html
    assert '<li id="fn-post-7-1"' in html


@pytest.mark.parametrize("doc_id", ["", "a b", '"x', "x\n", "x" * 65])
def test_render_markdown_rejects_bad_doc_id(doc_id: str) -> None:
    with pytest.raises(ValueError):
        render_markdown("x", doc_id=doc_id)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "[[species:monstera-deliciosa]]",
            '<div class="species-card"><a class="species-card__link" '
            'href="/species/monstera-deliciosa" rel="noopener noreferrer">'
            '<img class="species-card__img" src="/media/monstera-deliciosa.jpg" '
            'alt="monstera-deliciosa"><span class="species-card__name">'
            "species:monstera-deliciosa</span></a></div>",
            id="block-card-keeps-classes",
        ),
        pytest.param(
            "See [[species:ficus]] first.",
            '<p>See</p>\n<div class="species-card">',
            id="inline-card-splits-paragraph",
        ),
        pytest.param(
            "See [[species:ficus]] first.", "</div>\n<p>first.</p>", id="inline-card-text-after"
        ),
        pytest.param(
            "[[species:unknown]]", "<p>[[species:unknown]]</p>", id="unknown-left-as-text"
        ),
        pytest.param(
            "`[[species:ficus]]`", "<code>[[species:ficus]]</code>", id="code-span-untouched"
        ),
        pytest.param(
            "```\n[[species:ficus]]\n```",
            "<pre><code>[[species:ficus]]\n</code></pre>",
            id="code-block-untouched",
        ),
        pytest.param(
            "[see [[species:ficus]]](/x)", ">see [[species:ficus]]</a>", id="inside-link-untouched"
        ),
        pytest.param(
            "## Ficus [[species:ficus]]",
            '<h2 id="ficus-speciesficus">Ficus [[species:ficus]]</h2>',
            id="heading-untouched",
        ),
        pytest.param("[[Species:ficus]]", "<p>[[Species:ficus]]</p>", id="kind-must-be-lowercase"),
    ],
)
def test_render_markdown_expands_shortcodes(source: str, expected: str) -> None:
    html = render_markdown(source, shortcodes=_card)
    assert expected in html
    assert "<p><div" not in html


def test_render_markdown_leaves_shortcodes_without_callback() -> None:
    assert render_markdown("[[species:ficus]]") == "<p>[[species:ficus]]</p>\n"


def test_render_markdown_passes_kind_and_slug_to_shortcodes() -> None:
    calls: list[tuple[str, str]] = []
    render_markdown(
        "[[species:ficus-lyrata]] and [[guide:repotting_101]]",
        shortcodes=lambda k, s: calls.append((k, s)),
    )
    assert calls == [("species", "ficus-lyrata"), ("guide", "repotting_101")]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "hi @alice",
            '<p>hi <a href="/users/alice" class="mention" rel="noopener noreferrer">@alice</a></p>',
            id="link",
        ),
        pytest.param(
            "thanks @bob.",
            '<a href="/users/bob" class="mention" rel="noopener noreferrer">@bob</a>.',
            id="trailing-dot",
        ),
        pytest.param("hi @ghost", "<p>hi @ghost</p>", id="unknown-plain-text"),
        pytest.param("`@alice`", "<p><code>@alice</code></p>", id="code-span"),
        pytest.param("mail alice@example.com", "<p>mail alice@example.com</p>", id="email"),
        pytest.param(
            "[@alice](/x)", '<a href="/x" rel="noopener noreferrer">@alice</a>', id="inside-link"
        ),
    ],
)
def test_render_markdown_links_mentions(source: str, expected: str) -> None:
    assert expected in render_markdown(source, mentions=_profile)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("hi @alice and @bob_2", ["alice", "bob_2"], id="two"),
        pytest.param("@alice @alice @Alice", ["alice", "Alice"], id="repeats-once"),
        pytest.param("thanks @bob.smith.", ["bob.smith"], id="dot-inside-trailing-dot-out"),
        pytest.param("(@ann-lee), @x, @a", ["ann-lee"], id="brackets-and-min-length"),
        pytest.param("mail ann@example.com or @example.com", ["example.com"], id="email-excluded"),
        pytest.param("`@alice` and\n\n    @bob\n\n```\n@carol\n```", [], id="code-excluded"),
        pytest.param("see https://example.com/@dave", [], id="url-path-excluded"),
        pytest.param("@" + "a" * 32 + " @" + "b" * 33, ["a" * 32], id="max-length"),
        pytest.param("**@eve** and > @frank", ["eve", "frank"], id="inside-markup"),
        pytest.param(
            "> @gina\n\n- @hal\n\n| @ivy |\n|---|", ["gina", "hal", "ivy"], id="quote-list-table"
        ),
        pytest.param("Note[^1]\n\n[^1]: ask @jo", ["jo"], id="footnote"),
    ],
)
def test_find_mentions(source: str, expected: list[str]) -> None:
    assert find_mentions(source) == expected


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        ('<div class="c" hx-get="/x" data-hx-post="/y" id="z">t</div>', '<div class="c">t</div>'),
        (
            '<a href="/p" class="x" target="_blank" onclick="f()">p</a>',
            '<a href="/p" class="x" rel="noopener noreferrer">p</a>',
        ),
        (
            '<img src="https://e.com/a.png" width="40" height="40" style="x" alt="a">',
            '<img src="https://e.com/a.png" width="40" height="40" alt="a">',
        ),
        ("<p>ok<!-- comment --></p>", "<p>ok</p>"),
        ("<p>a<script>b</script>c</p>", "<p>ac</p>"),
    ],
)
def test_sanitize_html_keeps_only_allowlist(trusted: str, expected: str) -> None:
    assert sanitize_html(trusted) == expected


def test_sanitize_html_adds_nofollow() -> None:
    assert sanitize_html('<a href="https://e.com">x</a>', nofollow=True) == (
        '<a href="https://e.com" rel="noopener noreferrer nofollow ugc">x</a>'
    )


@pytest.mark.parametrize(
    ("source", "limit", "expected"),
    [
        pytest.param(
            "# Title\n\nSome **bold** and [a link](https://e.com).",
            None,
            "Title Some bold and a link.",
            id="strips-markup",
        ),
        pytest.param("a < b & c > d", None, "a < b & c > d", id="unescaped-text"),
        pytest.param(
            "Text\n\n```python\ncode()\n```\n\nmore", None, "Text more", id="skips-code-blocks"
        ),
        pytest.param(
            "See [[species:ficus-lyrata]].", None, "See ficus lyrata.", id="shortcode-as-words"
        ),
        pytest.param("![A fern](/f.png) grows", None, "A fern grows", id="image-alt"),
        pytest.param("one two three four five", 12, "one two…", id="cut-at-word"),
        pytest.param("one two", 7, "one two", id="fits"),
        pytest.param("abcdefghijkl", 6, "abcde…", id="cut-long-word"),
    ],
)
def test_plain_text(source: str, limit: int | None, expected: str) -> None:
    result = plain_text(source, limit)
    assert result == expected
    assert limit is None or len(result) <= limit


@pytest.mark.parametrize(
    ("words", "minutes"),
    [(0, 1), (1, 1), (220, 1), (221, 2), (1100, 5), (5000, 23)],
)
def test_reading_time_minutes(words: int, minutes: int) -> None:
    assert reading_time_minutes(" ".join(["leaf"] * words)) == minutes


@pytest.mark.parametrize(
    "render", [render_markdown, plain_text, find_mentions, reading_time_minutes]
)
def test_helpers_accept_empty_text(render: Callable[[str], object]) -> None:
    render("")
