"""Snippets: escaped text, <mark> around matched words, cut around the first match."""
from app.search.service import clean_query, highlight


def test_highlight_marks_word_prefixes_case_insensitively():
    assert highlight("Figs and FIGURES", "fig") == "<mark>Figs</mark> and <mark>FIGURES</mark>"


def test_highlight_escapes_html_around_marks():
    assert highlight("<script>fig</script>", "fig") == "&lt;script&gt;<mark>fig</mark>&lt;/script&gt;"


def test_highlight_ignores_accents():
    assert highlight("Costilla de Adán", "adan") == "Costilla de <mark>Adán</mark>"


def test_highlight_cuts_long_text_around_first_match():
    text = "word " * 100 + "fig " + "word " * 100
    out = highlight(text, "fig", width=60)
    assert "<mark>fig</mark>" in out and out.startswith("… ") and out.endswith(" …")
    assert len(out) < 120


def test_highlight_query_operators_are_literal():
    assert highlight("a (b) c", ".*(") == "a (b) c"


def test_clean_query_collapses_spaces_and_trims_long_queries():
    assert clean_query("  fig   tree ") == ("fig tree", [])
    q, notices = clean_query("x" * 250)
    assert len(q) == 200 and len(notices) == 1
