"""Post rendering through the service: Markdown features, species cards and sanitising, table-driven."""
import pytest

from app.blog import service
from app.species.service import get_or_create_species

CASES = [
    ("# Title", '<h1 id="post-new-title">Title</h1>'),
    ("| a | b |\n|---|:-:|\n| 1 | 2 |", '<td align="center">2</td>'),
    ("x[^1]\n\n[^1]: note", 'class="footnotes"'),
    ("```python\nprint(1)\n```", '<pre class="highlight"><code class="language-python">'),
    ('![leaf](https://example.com/l.png "A leaf")', "<figcaption>A leaf</figcaption>"),
    ("<b>raw</b>", "&lt;b&gt;raw&lt;/b&gt;"),
    ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    ("[ok](https://example.com)", 'rel="noopener noreferrer"'),
]


@pytest.mark.parametrize("markdown,expected", CASES)
def test_render_body_supports_markdown_features(app, markdown, expected):
    with app.test_request_context():
        assert expected in service.render_body(markdown)


def test_species_card_escapes_names(app_ctx, app):
    get_or_create_species("Monstera deliciosa", common_names=["<b>Cheese</b> plant"])
    with app.test_request_context():
        html = service.render_body("[[species:monstera-deliciosa]]")
    assert '<div class="species-card">' in html
    assert "&lt;b&gt;Cheese&lt;/b&gt; plant" in html and "<b>" not in html


def test_species_card_links_to_species_page_when_served(app_ctx, app, monkeypatch):
    get_or_create_species("Monstera deliciosa")
    with app.test_request_context():
        monkeypatch.setattr(service, "species_url", lambda s: f"/species/{s.slug}")
        html = service.render_body("[[species:monstera-deliciosa]]")
    assert '<a href="/species/monstera-deliciosa"' in html


def test_unknown_shortcode_kind_stays_text(app_ctx, app):
    with app.test_request_context():
        assert "[[video:abc]]" in service.render_body("[[video:abc]]")


def test_heading_ids_are_prefixed_per_post(app, app_ctx):
    import uuid
    post_id = uuid.uuid4()
    with app.test_request_context():
        html = service.render_body("## Soil", post_id)
    assert f'id="post-{post_id.hex[:12]}-soil"' in html


def _lines(html: str) -> list[str]:
    # A hidden paragraph around a captioned figure leaves a blank line only in a whole render.
    return [line for line in html.splitlines() if line]


def test_sectioned_preview_matches_whole_render(app, app_ctx):
    from app.blog.seed import long_body
    get_or_create_species("Monstera deliciosa")
    body = long_body(["/blog/images/a"])
    with app.test_request_context():
        assert len(body) > service.PREVIEW_SECTION_THRESHOLD
        whole = _lines(service.render_body(body))
        assert _lines(service.render_preview(body)) == whole
        # The second time the sections come from Redis.
        assert _lines(service.render_preview(body)) == whole
    assert app.extensions["redis"].keys("verdant:blog:preview:*")


@pytest.mark.parametrize("extra", ["\n\nSee[^1].\n\n[^1]: note", "\n\n[ref]: https://example.com",
                                   "\n\n## Part 1: notes from the greenhouse\n"])
def test_preview_renders_whole_document_when_parts_depend_on_each_other(app, app_ctx, extra):
    from app.blog.seed import long_body
    body = long_body() + extra
    with app.test_request_context():
        assert service.render_preview(body) == service.render_body(body)
    assert app.extensions["redis"].keys("verdant:blog:preview:*") == []


def test_headings_inside_code_fences_do_not_split_sections():
    body = "intro\n\n```\n# not a heading\n```\n\n# Real\n\ntext\n"
    assert service._sections(body) == ["intro\n\n```\n# not a heading\n```\n\n", "# Real\n\ntext\n"]
