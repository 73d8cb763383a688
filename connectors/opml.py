"""A feed reader's OPML export -> the feeds in it.

Parsed with expat directly and no DTD processing: an OPML file never needs entity
declarations, so any internal DOCTYPE subset or entity declaration is refused outright (no
billion laughs, no external entities; defusedxml is not a dependency).
"""

from __future__ import annotations

import xml.parsers.expat
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["OpmlError", "OpmlFeed", "parse_opml"]

_FEED_SCHEMES: Final = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One subscription: its feed URL, the title the reader showed, the folder it sat in."""

    url: str
    title: str | None
    folder: str | None = None


class OpmlError(ValueError):
    """The file is not a usable OPML document; the message names the file."""


class _Refused(Exception):
    """Raised from expat callbacks to stop on DTD features OPML never needs."""


@dataclass(slots=True)
class _Collector:
    source: str
    root: str | None = None
    in_body: bool = False
    folders: list[str | None] = field(default_factory=list)
    feeds: list[OpmlFeed] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.root is None:
            self.root = name
            if name.lower() != "opml":
                raise OpmlError(f"{self.source}: not an OPML file (the root element is <{name}>)")
            return
        lowered = name.lower()
        if lowered == "body":
            self.in_body = True
            return
        if lowered != "outline" or not self.in_body:
            return
        attributes = {k.lower(): v for k, v in attrs.items()}
        title = (attributes.get("title") or attributes.get("text") or "").strip() or None
        url = _feed_url(attributes.get("xmlurl", ""))
        if url is not None and url not in self.seen:
            self.seen.add(url)
            folder = next((f for f in reversed(self.folders) if f), None)
            self.feeds.append(OpmlFeed(url=url, title=title, folder=folder))
        # Every outline opens a level; only those without a feed act as folders.
        self.folders.append(title if url is None else None)

    def end(self, name: str) -> None:
        lowered = name.lower()
        if lowered == "outline" and self.in_body and self.folders:
            self.folders.pop()
        elif lowered == "body":
            self.in_body = False


def _feed_url(raw: str) -> str | None:
    """The URL as a feed URL, or None when it is not one we can poll."""
    url = raw.strip()
    if not url:
        return None
    if url.lower().startswith("feed://"):  # an old browser convention for http
        url = "http://" + url[len("feed://") :]
    parts = urlsplit(url)
    if parts.scheme.lower() not in _FEED_SCHEMES or not parts.hostname:
        return None
    return urlunsplit(parts._replace(scheme=parts.scheme.lower()))


def parse_opml(data: bytes, *, source: str) -> list[OpmlFeed]:
    """The feeds of an OPML document, nested folders flattened, duplicates dropped.

    `source` (usually the file name) starts every error message.
    """
    if not data.strip():
        raise OpmlError(f"{source}: empty file, not an OPML document")
    collector = _Collector(source)
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def doctype(name: str, system_id: str | None, public_id: str | None, subset: int) -> None:
        if subset:
            raise _Refused("a DOCTYPE with declarations is not allowed in OPML")

    def entity_decl(*args: object) -> None:
        raise _Refused("entity declarations are not allowed in OPML")

    def external_entity(*args: object) -> int:
        raise _Refused("external entities are not allowed in OPML")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity_decl
    parser.UnparsedEntityDeclHandler = entity_decl
    parser.ExternalEntityRefHandler = external_entity
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise OpmlError(f"{source}: {exc}") from None
    except xml.parsers.expat.ExpatError as exc:
        what = xml.parsers.expat.ErrorString(exc.code)
        raise OpmlError(
            f"{source}: not well-formed XML at line {exc.lineno}, column {exc.offset + 1}: {what}"
        ) from None
    if collector.root is None:
        raise OpmlError(f"{source}: not an OPML file (no root element)")
    return collector.feeds
