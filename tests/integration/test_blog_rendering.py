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
