"""An HTML page -> the feeds it advertises through <link rel="alternate">.

parse_feed hands them out on NotAFeed when a page is fetched instead of a feed: `newswatch
feeds add URL` tries them, the monitor names the first in the feed's health. Uses the
standard library's tolerant HTML tokenizer: real pages are not XML.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Final
from urllib.parse import urljoin, urlsplit

__all__ = ["FEED_TYPES", "find_feed_links"]

FEED_TYPES: Final = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/json",  # JSON Feed 1.0 advertised itself this way
    }
)
_SCAN_LIMIT: Final = 2 * 1024 * 1024  # feed links live in <head>: no need to read a huge page
_META_CHARSET: Final = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-:.]+)""", re.I)


class _LinkFinder(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base_url
        self.found: list[str] = []
        self._base_set = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "base" and not self._base_set and values.get("href"):
            # Only the first <base> counts (HTML spec), resolved against the page's own URL.
            self.base = urljoin(self.base, values["href"].strip())
            self._base_set = True
            return
        if tag != "link":
            return
        rels = values.get("rel", "").lower().split()
        media_type = values.get("type", "").split(";")[0].strip().lower()
        href = values.get("href", "").strip()
        if "alternate" not in rels or media_type not in FEED_TYPES or not href:
            return
        if media_type == "application/json" and "feed" not in values.get("title", "").lower():
            return  # too generic on its own (oEmbed, manifests...) unless titled as a feed
        url = urljoin(self.base, href)
        if urlsplit(url).scheme in ("http", "https") and url not in self.found:
            self.found.append(url)

    handle_startendtag = handle_starttag


def _decode(html: bytes) -> str:
    match = _META_CHARSET.search(html[:4096])
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return html.decode(encoding, errors="replace")
    except LookupError:  # a charset Python does not know
        return html.decode("utf-8", errors="replace")


def find_feed_links(html: bytes, *, base_url: str) -> list[str]:
    """Absolute feed URLs a page advertises, in page order, without duplicates."""
    finder = _LinkFinder(base_url)
    finder.feed(_decode(html[:_SCAN_LIMIT]))
    finder.close()
    return finder.found
