"""Entity bombs and external entities defused before feedparser's XML parser sees a feed.

Importing this module installs the rewrite into feedparser (connectors.feed does).
"""

from __future__ import annotations

import re
from typing import Final

import feedparser.api

# feedparser strips <!ENTITY> declarations with a regex anchored at the start of a line, so a
# DOCTYPE written on one line keeps them, and expat then expands a billion-laughs bomb until
# its amplification limit (measured: 52 MB and 1.8 s for an 830-byte document; padding the
# document raises expat's allowance). We rewrite every DOCTYPE internal subset first, keeping
# only entities whose value is plain text or one character reference: expansion stays linear
# and nothing can name a file. External DTDs are never loaded (feedparser disables
# external general entities in expat).

_SAFE_ENTITY: Final = re.compile(rb'<!ENTITY\s+(\w+)\s+"(&#\w+;|[^&"%<]{0,200})"\s*>')
_FIRST_ELEMENT: Final = re.compile(rb"<[A-Za-z_]")
_ORIGINAL_REPLACE_DOCTYPE: Final = feedparser.api.replace_doctype


def _doctype_span(data: bytes) -> tuple[int, int, int, int] | None:
    """Where the DOCTYPE is: (start, end, subset_start, subset_end), subset -1 when absent.

    A small scanner that respects quotes, comments and processing instructions, so a `>` or
    `]` inside an entity value does not end the declaration early.
    """
    root = _FIRST_ELEMENT.search(data)
    limit = root.start() if root else len(data)
    start = data.find(b"<!DOCTYPE", 0, limit)
    if start < 0:
        return None
    i = start + len(b"<!DOCTYPE")
    quote = 0
    subset_start = subset_end = -1
    in_subset = False
    n = len(data)
    while i < n:
        c = data[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in b"\"'":
            quote = c
        elif data.startswith(b"<!--", i):
            close = data.find(b"-->", i + 4)
            if close < 0:
                return None
            i = close + 3
            continue
        elif data.startswith(b"<?", i):
            close = data.find(b"?>", i + 2)
            if close < 0:
                return None
            i = close + 2
            continue
        elif c == ord("[") and not in_subset and subset_start < 0:
            in_subset = True
            subset_start = i + 1
        elif c == ord("]") and in_subset:
            in_subset = False
            subset_end = i
        elif c == ord(">") and not in_subset:
            return start, i + 1, subset_start, subset_end
        i += 1
    return None


def _defuse_doctype(data: bytes) -> bytes:
    """Rewrite a DOCTYPE's internal subset to only the harmless entity declarations."""
    span = _doctype_span(data)
    if span is None:
        return data
    start, end, subset_start, subset_end = span
    if subset_start < 0:
        return data  # external DTD only: never fetched
    subset = data[subset_start:subset_end] if subset_end >= 0 else b""
    safe = [m.group(0) for m in _SAFE_ENTITY.finditer(subset)]
    name = data[start + len(b"<!DOCTYPE") : subset_start - 1]
    rebuilt = b"<!DOCTYPE" + name
    if safe:
        rebuilt += b" [\n" + b"\n".join(safe) + b"\n]"
    # On a line of its own: feedparser's regexes only see declarations that start a line.
    lead = b"\n" if start > 0 else b""
    return data[:start] + lead + rebuilt + b">" + data[end:]


def _safe_replace_doctype(data: bytes) -> tuple[str | None, bytes, dict[str, str]]:
    """feedparser's own DOCTYPE step, after ours: it runs on the UTF-8 bytes both parsers get."""
    version, cleaned, entities = _ORIGINAL_REPLACE_DOCTYPE(_defuse_doctype(data))
    return version, cleaned, entities


# feedparser calls replace_doctype through its api module's namespace, after converting the
# document to UTF-8 and before the strict (expat) or loose parser sees it: one choke point.
feedparser.api.replace_doctype = _safe_replace_doctype
