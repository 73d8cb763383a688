"""An entry's HTML -> the text a reader sees, paragraphs kept, through an HTML5 parser.

A feed's HTML is written by strangers and arrives unsanitised (feedparser's sanitiser is
off: connectors.feed), so it is parsed the way a browser parses a fragment placed in a
page (lexbor, through selectolax): an unquoted attribute holding an apostrophe, a stray
quote, a self-closed tag or a CDATA section loses no text. What a reader never sees
(scripts, styles, templates, embedded objects, SVG and MathML) and what is not the article
(navigation, forms, share widgets) is dropped with its content; entities are decoded once.
"""

from __future__ import annotations

import html
import re
from typing import Final

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Elements dropped with everything inside them: never shown as text, or not the article.
_DROPPED: Final = frozenset(
    {
        "-comment",
        "script",
        "style",
        "title",
        "noscript",
        "template",
        "iframe",
        "object",
        "embed",
        "svg",
        "math",
        "nav",
        "aside",
        "form",
        "button",
        "select",
        "textarea",
    }
)
# Share widgets are rare in feeds: only a fragment that mentions one is searched for them.
_SHARE_HINTS: Final = ("share", "social", "feedflare", "intent/tweet", "addtoany")
_SHARE_NAMES: Final = ("share", "social", "feedflare")
_SHARE_LINKS: Final = ("sharer", "/share?", "/share/", "intent/tweet", "sharearticle", "addtoany")
# Elements a browser shows on a line of their own: a paragraph break in the text.
_BLOCKS: Final = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "hr"}
    | {"blockquote", "section", "article", "header", "footer", "figure", "figcaption"}
    | {"table", "caption", "pre", "dl", "dt", "dd", "main", "address", "details", "summary"}
)
_CELLS: Final = frozenset({"td", "th"})
# A self-closed <iframe/> is no empty element in HTML: the rest of the fragment would become
# the frame's hidden content. Written that way in a feed, it means an empty frame.
_SELF_CLOSED_IFRAME: Final = re.compile(r"<(iframe)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)/>", re.I)
# Spaces that are spaces to a reader: a non-breaking one joins words, it never deletes the gap.
_TO_SPACE: Final = str.maketrans(
    {"\t": " ", "\f": " ", "\v": " ", "\r": " ", "\u00a0": " ", "\u2007": " ", "\u202f": " "}
)


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment, one paragraph a line, whitespace tidied."""
    if not fragment:
        return ""
    if "<" not in fragment:
        # No markup: only entities to decode (html.unescape is the HTML5 table, as lexbor's).
        text = html.unescape(fragment) if "&" in fragment else fragment
    else:
        text = _parsed_text(fragment)
    return tidy(text)


def _parsed_text(fragment: str) -> str:
    """The text nodes in document order, with a line break around each block.

    A walk with its own stack rather than selectors and tree edits: it costs less than the
    regular expression it replaced, and no nesting depth can exhaust Python's stack.
    """
    lowered = fragment.lower()
    if "<iframe" in lowered:
        fragment = _SELF_CLOSED_IFRAME.sub(r"<\1\2></\1>", fragment)
    shares = any(hint in lowered for hint in _SHARE_HINTS)
    out: list[str] = []
    pending: list[LexborNode | str] = []
    push, pop = pending.append, pending.pop
    root = LexborHTMLParser(fragment, is_fragment=True).root
    if root is not None:
        push(root)
    while pending:
        item = pop()
        if isinstance(item, str):
            out.append(item)
            continue
        following = item.next
        if following is not None:
            push(following)
        tag = item.tag
        if tag == "-text":
            # A line break in the source is a space to a browser, as any run of whitespace.
            out.append((item.text_content or "").replace("\n", " "))
            continue
        if tag in _DROPPED or (shares and _is_share_widget(item)):
            continue
        if tag == "pre":
            out.append(f"\n{item.text(deep=True)}\n")  # its lines are the author's
            continue
        if tag in _BLOCKS:
            out.append("\n")
            push("\n")
        elif tag in _CELLS:
            push(" ")
        child = item.first_child
        if child is not None:
            push(child)
    return "".join(out)


def _is_share_widget(element: LexborNode) -> bool:
    attributes = element.attributes
    names = f"{attributes.get('class') or ''} {attributes.get('id') or ''}".lower()
    if any(name in names for name in _SHARE_NAMES):
        return True
    href = (attributes.get("href") or "").lower() if element.tag == "a" else ""
    return any(link in href for link in _SHARE_LINKS)


def tidy(text: str) -> str:
    """Runs of spaces made one, lines trimmed, empty lines dropped."""
    text = text.translate(_TO_SPACE)
    while "  " in text:
        text = text.replace("  ", " ")
    if "\n" not in text:
        return text.strip()
    return "\n".join(line for line in map(str.strip, text.split("\n")) if line)
