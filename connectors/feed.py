"""Feed bytes -> RawEntry values: RSS / Atom / RDF through feedparser, JSON Feed by hand.

feedparser is tolerant (its loose parser keeps entries from broken XML); connectors.xml_safety
defuses entity tricks before it parses, and connectors.parser_pool runs this module's
parse_feed in worker processes with a time limit.
"""

from __future__ import annotations

import calendar
import functools
import html
import io
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.api

from connectors import xml_safety  # noqa: F401  (installs the DOCTYPE rewrite in feedparser)
from connectors.discover import find_feed_links
from connectors.entry import RawEntry

__all__ = [
    "FeedParseError",
    "NotAFeed",
    "ParseTimeout",
    "ParsedFeed",
    "ParserCrashed",
    "parse_feed",
]

_HTML_START: Final = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b",
    re.IGNORECASE | re.DOTALL,
)
_JSONFEED_VERSION: Final = "https://jsonfeed.org/version/1"
_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed document: its entries and what the parser had to forgive."""

    title: str
    entries: list[RawEntry]
    version: str  # feedparser's version string ("rss20", "atom10", ...) or "json1"/"json11"
    warning: str | None  # loose-parse (bozo) warning as one line; entries still kept
    ttl_minutes: int | None  # RSS <ttl>


class FeedParseError(ValueError):
    """The document gave no feed; the message is one line a user can read.

    Callers tell the kinds apart by subclass, never by the message text.
    """


class NotAFeed(FeedParseError):
    """The document is something else: an HTML page (`html`), other JSON, or nothing at all.

    `links` are the feeds the document advertises (an HTML page's <link rel="alternate">),
    found while parsing so no caller has to scan the body again; the message names the first.
    """

    def __init__(self, reason: str, *, html: bool = False, links: tuple[str, ...] = ()) -> None:
        super().__init__(f"{reason}; it links to a feed at {links[0]}" if links else reason)
        self.reason = reason
        self.html = html
        self.links = links

    def __reduce__(self) -> tuple[Any, ...]:
        # Crosses the process pool: rebuilt from the fields, not from the composed message.
        return (functools.partial(type(self), html=self.html, links=self.links), (self.reason,))


class ParseTimeout(FeedParseError):
    """Parsing ran past the time limit; the worker doing it was killed."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"parse took longer than {limit_s:g}s")
        self.limit_s = limit_s

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.limit_s,))


class ParserCrashed(FeedParseError):
    """The worker process died twice while parsing the document (killed, out of memory)."""

    def __init__(self) -> None:
        super().__init__("parser process died (killed or out of memory)")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())


_SAX_PREFIX: Final = re.compile(r"^<unknown>:(\d+):(\d+): ")


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    # expat's "<unknown>:12:3: msg" reads better as "line 12, column 3: msg".
    line = _SAX_PREFIX.sub(lambda m: f"line {m[1]}, column {m[2]}: ", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _from_struct(value: Any) -> datetime | None:
    """feedparser's `*_parsed` is a UTC struct_time: timegm, never mktime."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _ttl(value: Any) -> int | None:
    try:
        ttl = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return ttl if ttl > 0 else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _as_html(entry: Mapping[str, Any], key: str) -> str:
    """An entry's field as HTML, like every RawEntry text: a plain-text one (Atom's
    type="text", an RSS title with no markup) is escaped, so "<script>" in a headline is
    shown as written instead of being dropped as a tag."""
    value = _str(entry.get(key))
    detail = entry.get(f"{key}_detail")
    if not isinstance(detail, Mapping):
        # feedparser copies an entry's content into a missing summary without its type.
        contents = entry.get("content") if key == "summary" else None
        copied = contents[0] if isinstance(contents, list) and contents else None
        detail = copied if isinstance(copied, Mapping) and copied.get("value") == value else None
    if isinstance(detail, Mapping) and detail.get("type") == "text/plain":
        return html.escape(value, quote=False)
    return value


def _entry_content(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content")
    if not isinstance(contents, list) or not contents:
        return ""
    # Prefer an HTML body when a feed offers several representations.
    for item in contents:
        if isinstance(item, Mapping) and "html" in _str(item.get("type")):
            return _str(item.get("value"))
    first = contents[0]
    if not isinstance(first, Mapping):
        return ""
    value = _str(first.get("value"))
    return html.escape(value, quote=False) if first.get("type") == "text/plain" else value


def _looks_like_json(body: bytes, headers: Mapping[str, str]) -> bool:
    content_type = headers.get("content-type", "").lower()
    start = body.lstrip()[:1]
    return start == b"{" or ("json" in content_type and start in (b"{", b"["))


def parse_feed(body: bytes, *, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse one fetched document.

    Raises NotAFeed when the document is no feed at all, FeedParseError when feedparser fails.
    """
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    lowered["content-location"] = url
    # The fetcher already decoded the body: these describe bytes feedparser never sees.
    lowered.pop("content-encoding", None)
    lowered.pop("content-length", None)
    if not body.strip() or body.strip() == _BOM:
        raise NotAFeed("empty document")
    stripped = body[3:] if body.startswith(_BOM) else body
    if _looks_like_json(stripped, lowered):
        return _parse_json_feed(stripped, url=url)
    # BytesIO: a str argument could be opened as a path or URL by feedparser.
    # Entry HTML becomes plain text (newswatch.normalize) and is never shown as HTML, so
    # feedparser's sanitiser and its rewriting of links inside that HTML are work thrown
    # away: they were most of its time (about 1.7x faster without them).
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers=lowered,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except (RecursionError, MemoryError, ValueError, TypeError, AttributeError) as exc:
        # feedparser's own bugs on odd input: one broken feed must read as one broken feed.
        raise FeedParseError(f"parser failed: {type(exc).__name__}: {_one_line(exc)}") from exc
    version = _str(parsed.get("version"))
    raw_entries = parsed.get("entries") or []
    bozo = bool(parsed.get("bozo"))
    problem = parsed.get("bozo_exception")
    # A missing or non-XML Content-Type loses nothing: not worth a warning on the feed.
    benign = isinstance(problem, feedparser.NonXMLContentType)
    reason = _one_line(problem) if bozo and problem is not None and not benign else None
    if not version and not raw_entries:
        # A page that is no feed may still name its feeds (also a fragment without <html>).
        links = tuple(find_feed_links(body, base_url=url))
        if _HTML_START.match(body):
            raise NotAFeed("not a feed (an HTML page)", html=True, links=links)
        raise NotAFeed(f"no entries and no feed version: {reason or 'unknown format'}", links=links)
    feed_info = parsed.get("feed") or {}
    title = _one_line(_str(feed_info.get("title")))
    source_title = title or _host(url)
    entries = [_raw_entry(e, url=url, source_title=source_title) for e in raw_entries]
    return ParsedFeed(
        title=title,
        entries=entries,
        version=version,
        warning=reason or None,
        ttl_minutes=_ttl(feed_info.get("ttl")),
    )


def _raw_entry(entry: Mapping[str, Any], *, url: str, source_title: str) -> RawEntry:
    published = _from_struct(entry.get("published_parsed")) or _from_struct(
        entry.get("updated_parsed")
    )
    return RawEntry(
        feed_url=url,
        source_title=source_title,
        guid=_opt_str(entry.get("id")),
        link=_opt_str(entry.get("link")),
        title=_as_html(entry, "title"),
        summary_html=_as_html(entry, "summary"),
        content_html=_entry_content(entry),
        published=published,
        author=_opt_str(entry.get("author")),
    )


# --- JSON Feed (https://jsonfeed.org/version/1.1): feedparser does not read it ---------------


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _json_author(item: Mapping[str, Any]) -> str | None:
    authors = item.get("authors")
    if isinstance(authors, list):
        names = [a.get("name") for a in authors if isinstance(a, Mapping)]
        joined = ", ".join(n for n in names if isinstance(n, str) and n)
        if joined:
            return joined
    author = item.get("author")  # version 1.0
    if isinstance(author, Mapping):
        return _opt_str(author.get("name"))
    return None


def _parse_json_feed(body: bytes, *, url: str) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise NotAFeed(f"not a feed (invalid JSON: {_one_line(exc, 120)})") from exc
    if not isinstance(doc, dict):
        raise NotAFeed("not a feed (JSON but not a JSON Feed object)")
    version_url = doc.get("version")
    if not isinstance(version_url, str) or not version_url.startswith(_JSONFEED_VERSION):
        raise NotAFeed("not a feed (JSON without a jsonfeed.org version)")
    version = "json11" if version_url.rstrip("/").endswith("1.1") else "json1"
    items = doc.get("items")
    if not isinstance(items, list):
        raise NotAFeed("not a feed (JSON Feed without an items list)")
    title = _one_line(_str(doc.get("title")))
    source_title = title or _host(url)
    base = _str(doc.get("home_page_url")) or url
    entries: list[RawEntry] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        link = _opt_str(item.get("url")) or _opt_str(item.get("external_url"))
        content = _str(item.get("content_html"))
        if not content and isinstance(item.get("content_text"), str):
            content = html.escape(item["content_text"])
        guid = item.get("id")
        entries.append(
            RawEntry(
                feed_url=url,
                source_title=source_title,
                # Spec: id is a string, but numbers appear in the wild.
                guid=str(guid) if isinstance(guid, str | int) and str(guid) else None,
                link=urljoin(base, link) if link else None,
                title=html.escape(_str(item.get("title")), quote=False),
                summary_html=html.escape(_str(item.get("summary"))),
                content_html=content,
                published=_iso_date(item.get("date_published"))
                or _iso_date(item.get("date_modified")),
                author=_json_author(item),
            )
        )
    return ParsedFeed(title=title, entries=entries, version=version, warning=None, ttl_minutes=None)
