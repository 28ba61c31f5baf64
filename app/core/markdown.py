"""Render users' Markdown to sanitised HTML, and derive plain text, mentions and reading time."""

import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from html import unescape
from typing import Any
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.anchors.index import slugify
from mdit_py_plugins.footnote import footnote_plugin
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import find_lexer_class_by_name
from pygments.util import ClassNotFound

Shortcodes = Callable[[str, str], str | None]
Mentions = Callable[[str], str | None]

WORDS_PER_MINUTE = 220

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s",
        "code", "pre", "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody",
        "tr", "th", "td", "figure", "figcaption", "sup", "sub", "section", "div", "span",
    }
)  # fmt: skip
# Typed as read-only Mappings; they are plain dicts because nh3 accepts nothing else.
ALLOWED_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "a": frozenset({"href", "title", "id", "class"}),
    "img": frozenset({"src", "alt", "title", "width", "height", "loading", "class"}),
    **{f"h{level}": frozenset({"id"}) for level in range(1, 7)},
    "li": frozenset({"id", "class"}),
    # "3. item" must stay item 3, so an ordered list keeps its start number.
    "ol": frozenset({"start"}),
    **{
        tag: frozenset({"class"})
        for tag in ("code", "pre", "span", "div", "section", "sup", "figure")
    },
}
# Table alignment as an attribute, not inline style, so a strict CSP still shows it.
ALLOWED_ATTRIBUTE_VALUES: Mapping[str, Mapping[str, frozenset[str]]] = {
    tag: {"align": frozenset({"left", "center", "right"})} for tag in ("th", "td")
}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
IMAGE_SCHEMES = frozenset({"http", "https"})
# These lose their content too, not just the tag: their text is code or markup, never prose.
DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet",
        "noscript", "noembed", "noframes", "template", "svg", "math", "textarea", "select",
        "xmp", "title",
    }
)  # fmt: skip
LINK_REL = "noopener noreferrer"
LINK_REL_NOFOLLOW = "noopener noreferrer nofollow ugc"

_SHORTCODE = r"\[\[(?P<kind>[a-z][a-z0-9_-]{0,31}):(?P<slug>[A-Za-z0-9][A-Za-z0-9_.-]{0,127})\]\]"
# A name is the whole run of name characters after "@", minus trailing "." or "-"
# ("thanks @bob." mentions bob); a letter just before "@" means an email address.
_MENTION = (
    r"(?<![\w.+\-/@=])@(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}[A-Za-z0-9_])"
    r"(?![A-Za-z0-9_.-]*[A-Za-z0-9_])"
)
_SHORTCODE_RE = re.compile(_SHORTCODE)
_MENTION_RE = re.compile(_MENTION)
_INLINE_RE = re.compile(f"{_SHORTCODE}|{_MENTION}")
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.\-]*):")
# Browsers ignore tabs and newlines anywhere in a URL and C0 controls around it.
_URL_IGNORED_RE = re.compile(r"[\x00-\x20\x7f]+")
_DOC_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_WHITESPACE_RE = re.compile(r"\s+")

_ENV_SHORTCODES = "verdant_shortcodes"
_ENV_MENTIONS = "verdant_mentions"
_ENV_ANCHORS = "verdant_heading_anchors"
_ENV_DOC_ID = "verdant_doc_id"

_FORMATTER = HtmlFormatter(nowrap=True)


@functools.lru_cache(maxsize=128)
def _lexer_class(name: str) -> type[Lexer] | None:
    try:
        return find_lexer_class_by_name(name)
    except ClassNotFound:
        return None


def _highlight(code: str, lang: str, _attrs: str) -> str:
    lexer_class = _lexer_class(lang.lower()[:40]) if lang else None
    if lexer_class is None:
        # Returning a <pre> stops markdown-it adding class="language-<whatever the user typed>".
        return f"<pre><code>{escapeHtml(code)}</code></pre>"
    lexer = lexer_class(stripnl=False, ensurenl=True)
    body = pygments_highlight(code, lexer, _FORMATTER)
    language = lexer_class.aliases[0]
    return f'<pre class="highlight"><code class="language-{language}">{body}</code></pre>'


def _heading_slug(title: str) -> str:
    return slugify(title)[:80].strip("-") or "section"


def _text_tokens(children: Sequence[Token]) -> Iterator[tuple[int, Token]]:
    depth = 0
    for index, child in enumerate(children):
        if child.type == "link_open":
            depth += 1
        elif child.type == "link_close":
            depth -= 1
        # Inside link text a card or a mention link would nest one <a> in another.
        elif child.type == "text" and depth == 0:
            yield index, child


def _replacement(
    match: re.Match[str], shortcodes: Shortcodes | None, mentions: Mentions | None
) -> list[Token] | None:
    groups = match.groupdict()
    if groups.get("kind"):
        card = shortcodes(groups["kind"], groups["slug"]) if shortcodes else None
        if card is None:
            return None
        token = Token("html_inline", "", 0, content=card)
        token.meta = {"shortcode": True}
        return [token]
    name = groups["name"]
    url = mentions(name) if mentions else None
    if url is None:
        return None
    link_open = Token("link_open", "a", 1, attrs={"href": url, "class": "mention"})
    return [link_open, Token("text", "", 0, content=f"@{name}"), Token("link_close", "a", -1)]


def _expand(
    children: list[Token], shortcodes: Shortcodes | None, mentions: Mentions | None
) -> list[Token]:
    pattern = _INLINE_RE if shortcodes else _MENTION_RE if mentions else None
    if pattern is None:
        return children
    replaced: dict[int, list[Token]] = {}
    for index, token in _text_tokens(children):
        pieces: list[Token] = []
        start = 0
        for match in pattern.finditer(token.content):
            tokens = _replacement(match, shortcodes, mentions)
            if tokens is None:
                continue
            if match.start() > start:
                pieces.append(Token("text", "", 0, content=token.content[start : match.start()]))
            pieces.extend(tokens)
            start = match.end()
        if pieces:
            if start < len(token.content):
                pieces.append(Token("text", "", 0, content=token.content[start:]))
            replaced[index] = pieces
    if not replaced:
        return children
    return [new for index, old in enumerate(children) for new in replaced.get(index, [old])]


def _is_card(token: Token) -> bool:
    return token.type == "html_inline" and bool(token.meta.get("shortcode"))


def _trimmed(children: list[Token]) -> list[Token]:
    while children and children[0].type in ("softbreak", "hardbreak"):
        children = children[1:]
    while children and children[-1].type in ("softbreak", "hardbreak"):
        children = children[:-1]
    # These tokens belong to this one parse, so trimming them in place is safe.
    if children and children[0].type == "text":
        children[0].content = children[0].content.lstrip()
    if children and children[-1].type == "text":
        children[-1].content = children[-1].content.rstrip()
    return [child for child in children if child.type != "text" or child.content]


def _split_around_cards(
    paragraph_open: Token, inline: Token, paragraph_close: Token
) -> list[Token]:
    # A card is a <div>, which may not sit inside <p>: close the paragraph around it.
    out: list[Token] = []
    segment: list[Token] = []
    for child in [*(inline.children or []), None]:
        if child is not None and not _is_card(child):
            segment.append(child)
            continue
        if segment := _trimmed(segment):
            out += [paragraph_open.copy(), inline.copy(children=segment), paragraph_close.copy()]
        segment = []
        if child is not None:
            out.append(Token("html_block", "", 0, content=child.content + "\n", block=True))
    return out


def _verdant_blocks(state: StateCore) -> None:
    shortcodes = state.env.get(_ENV_SHORTCODES)
    mentions = state.env.get(_ENV_MENTIONS)
    tokens = state.tokens
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.type in ("th_open", "td_open") and token.attrs:
            align = str(token.attrs.pop("style", "")).removeprefix("text-align:")
            if align:
                token.attrs["align"] = align
        elif token.type == "inline" and token.children:
            # A card inside a heading would break both the heading and its anchor.
            in_heading = bool(out) and out[-1].type == "heading_open"
            token.children = _expand(token.children, None if in_heading else shortcodes, mentions)
            in_paragraph = bool(out) and out[-1].type == "paragraph_open"
            alone = token.children[0] if len(token.children) == 1 else None
            if (
                in_paragraph
                and alone is not None
                and alone.type == "image"
                and alone.attrGet("title")
            ):
                # A captioned figure is a block; <p> may not hold <figure>.
                alone.meta["figure"] = True
                out[-1].hidden = True
                tokens[index].hidden = True
            elif in_paragraph and any(_is_card(child) for child in token.children):
                out += _split_around_cards(out.pop(), token, tokens[index])
                index += 1
                continue
        out.append(token)
    state.tokens = out


def _verdant_heading_ids(state: StateCore) -> None:
    keep = state.env.get(_ENV_ANCHORS, True)
    doc_id = state.env.get(_ENV_DOC_ID)
    for token in state.tokens:
        if token.type != "heading_open" or not token.attrs.get("id"):
            continue
        if not keep:
            del token.attrs["id"]
        elif doc_id:
            token.attrs["id"] = f"{doc_id}-{token.attrs['id']}"


def _render_image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    token.attrSet(
        "alt", self.renderInlineAsText(token.children, options, env) if token.children else ""
    )
    token.attrSet("loading", "lazy")
    if not token.meta.get("figure"):
        return str(self.renderToken(tokens, idx, options, env))
    caption = str(token.attrs.pop("title"))
    img = self.renderToken(tokens, idx, options, env)
    return f"<figure>{img}<figcaption>{escapeHtml(caption)}</figcaption></figure>\n"


def _build_markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    md.use(footnote_plugin)
    md.use(anchors_plugin, min_level=1, max_level=6, slug_func=_heading_slug)
    md.core.ruler.after("text_join", "verdant_blocks", _verdant_blocks)
    md.core.ruler.after("anchor", "verdant_heading_ids", _verdant_heading_ids)
    md.add_render_rule("image", _render_image)
    return md


# Configuration only: every call passes its callbacks in a fresh env, never on this object.
_MD = _build_markdown()


def _allowed_url(tag: str, value: str) -> bool:
    bare = _URL_IGNORED_RE.sub("", unescape(unquote(value))).lower()
    scheme = _SCHEME_RE.match(bare)
    if scheme is None:
        return True
    return scheme.group(1) in (IMAGE_SCHEMES if tag == "img" else LINK_SCHEMES)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    # nh3 checks the scheme as written; this also catches "java%09script:" and images on mailto:.
    if attribute in ("href", "src") and not _allowed_url(tag, value):
        return None
    return value


def sanitize_html(html: str, *, nofollow: bool = False) -> str:
    """Reduce HTML to Verdant's user-content allowlist."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        tag_attribute_values=ALLOWED_ATTRIBUTE_VALUES,
        url_schemes=LINK_SCHEMES,
        link_rel=LINK_REL_NOFOLLOW if nofollow else LINK_REL,
        strip_comments=True,
    )


def render_markdown(
    text: str,
    *,
    shortcodes: Shortcodes | None = None,
    mentions: Mentions | None = None,
    nofollow: bool = False,
    heading_anchors: bool = True,
    doc_id: str | None = None,
) -> str:
    """Render Markdown to sanitised HTML to store, expanding shortcodes and @mentions."""
    if doc_id is not None and not _DOC_ID_RE.fullmatch(doc_id):
        raise ValueError("doc_id must be 1-64 letters, digits, '-' or '_'")
    env: dict[str, Any] = {
        _ENV_SHORTCODES: shortcodes,
        _ENV_MENTIONS: mentions,
        _ENV_ANCHORS: heading_anchors,
        _ENV_DOC_ID: doc_id,
    }
    if doc_id is not None:
        env["docId"] = doc_id
    return sanitize_html(_MD.render(text, env), nofollow=nofollow)


def find_mentions(text: str) -> list[str]:
    """Return the usernames @mentioned in Markdown, in order, without repeats."""
    names: dict[str, None] = {}
    for token in _MD.parse(text):
        if token.type == "inline" and token.children:
            for _, child in _text_tokens(token.children):
                for match in _MENTION_RE.finditer(child.content):
                    names.setdefault(match.group("name"))
    return list(names)


def _inline_text(children: Sequence[Token]) -> Iterator[str]:
    for child in children:
        if child.type in ("text", "code_inline"):
            yield child.content
        elif child.type in ("softbreak", "hardbreak"):
            yield " "
        elif child.type == "image" and child.children:
            yield from _inline_text(child.children)


def _words(text: str, *, include_code: bool) -> str:
    parts: list[str] = []
    for token in _MD.parse(text):
        if token.type == "inline" and token.children:
            parts.extend(_inline_text(token.children))
        elif include_code and token.type in ("fence", "code_block"):
            parts.append(token.content)
        parts.append(" ")
    joined = _SHORTCODE_RE.sub(lambda m: m.group("slug").replace("-", " "), "".join(parts))
    return _WHITESPACE_RE.sub(" ", joined).strip()


def plain_text(text: str, limit: int | None = None) -> str:
    """Return Markdown as one line of unescaped text, cut at a word to fit `limit` characters."""
    result = _words(text, include_code=False)
    if limit is None or len(result) <= limit:
        return result
    if limit < 1:
        return ""
    cut = result[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def reading_time_minutes(text: str) -> int:
    """Estimate minutes to read Markdown at 220 words a minute, at least one."""
    words = len(_words(text, include_code=True).split())
    return max(1, math.ceil(words / WORDS_PER_MINUTE))
