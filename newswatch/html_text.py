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
# lexbor's id of a text node (its tag name "-text" costs a string per node to read).
_TEXT_ID: Final = 2
# Whitespace that is not one plain space: most lines have none, and are only trimmed.
_UNTIDY: Final = ("  ", "\n", "\t", "\r", "\u00a0", "\f", "\v", "\u2007", "\u202f")
# Where a block starts or ends: a character no parsed text holds (lexbor turns NUL into U+FFFD).
_BREAK: Final = "\x00"
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
        return _lines(_parsed_text(fragment).split(_BREAK))
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
    # Where to go on when an element's children are done: what closes it, and its sibling.
    resume: list[tuple[str, LexborNode | None]] = []
    node = LexborHTMLParser(fragment, is_fragment=True).root
    while True:
        while node is not None:
            if node.tag_id == _TEXT_ID:
                out.append(node.text_content or "")
                node = node.next
                continue
            tag = node.tag
            if tag in _DROPPED or (shares and _is_share_widget(node)):
                node = node.next
                continue
            if tag == "pre":
                out.append(_BREAK + node.text(deep=True).replace("\n", _BREAK) + _BREAK)
                node = node.next
                continue
            closing = _BREAK if tag in _BLOCKS else " " if tag in _CELLS else ""
            out.append(closing if closing == _BREAK else "")
            resume.append((closing, node.next))
            node = node.first_child
        if not resume:
            return "".join(out)
        closing, node = resume.pop()
        out.append(closing)


def _is_share_widget(element: LexborNode) -> bool:
    attributes = element.attributes
    names = f"{attributes.get('class') or ''} {attributes.get('id') or ''}".lower()
    if any(name in names for name in _SHARE_NAMES):
        return True
    href = (attributes.get("href") or "").lower() if element.tag == "a" else ""
    return any(link in href for link in _SHARE_LINKS)


def _lines(lines: list[str]) -> str:
    """Each line's runs of whitespace (line breaks in the source included, as a browser
    reads them) made one space; empty lines dropped."""
    tidied = (
        " ".join(line.split()) if any(space in line for space in _UNTIDY) else line.strip()
        for line in lines
    )
    return "\n".join(filter(None, tidied))


def tidy(text: str) -> str:
    """Runs of spaces made one, lines trimmed, empty lines dropped."""
    text = text.translate(_TO_SPACE)
    while "  " in text:
        text = text.replace("  ", " ")
    if "\n" not in text:
        return text.strip()
    return "\n".join(line for line in map(str.strip, text.split("\n")) if line)
