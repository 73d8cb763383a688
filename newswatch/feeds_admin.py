"""Feed management behind `newswatch feeds`: health status, OPML import, add one feed.

The config file is the user's: new feeds are inserted as text next to the feeds already
there, so comments, blank lines, quoting and key order elsewhere stay exactly as written.
(A YAML round-trip through a library re-indents and re-wraps what it does not understand.)
The edited text is validated before it replaces the file, and the file is replaced
atomically: a mistake can never leave a half-written or invalid config behind.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from sqlalchemy import Engine
from sqlmodel import Session

from connectors.feed import FeedParseError, NotAFeed, ParsedFeed
from connectors.http import FeedFetcher, FetchResult, FetchSettings
from connectors.opml import OpmlError, parse_opml
from connectors.parser_pool import ParserPool
from newswatch import store
from newswatch.config import Config, ConfigError, parse_config
from newswatch.models import Feed

__all__ = [
    "AddResult",
    "FeedStatus",
    "FeedsAdminError",
    "ImportResult",
    "add_feed",
    "feed_statuses",
    "import_opml",
    "insert_feeds",
]


class FeedsAdminError(Exception):
    """A user-facing problem, one line naming the file, line or URL at fault."""


# --- status -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One configured feed's health, as `feeds status` shows it."""

    name: str
    url: str  # as the config names it
    polled_url: str  # where it is polled now (differs after a permanent redirect)
    health: str
    last_status: int | None
    last_error: str | None
    consecutive_failures: int
    entries_seen: int
    gone: bool
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None

    @property
    def moved(self) -> bool:
        return self.polled_url != self.url

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "name": self.name,
            "url": self.url,
            "polled_url": self.polled_url,
            "health": self.health,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "entries_seen": self.entries_seen,
            "gone": self.gone,
            "last_polled_at": iso(self.last_polled_at),
            "last_success_at": iso(self.last_success_at),
            "next_poll_at": iso(self.next_poll_at),
        }


def feed_statuses(engine: Engine, config: Config) -> list[FeedStatus]:
    """Every feed of the config in config order, with its stored health (or 'never polled')."""
    with Session(engine) as session:
        rows = {f.config_url or f.url: f for f in store.list_feeds(session)}
    statuses = []
    for feed in config.feeds:
        row = rows.get(feed.url) or Feed(url=feed.url, name=feed.name)
        statuses.append(
            FeedStatus(
                name=feed.name or row.title or feed.url,
                url=feed.url,
                polled_url=row.url,
                health=row.health,
                last_status=row.last_status,
                last_error=row.last_error,
                consecutive_failures=row.consecutive_failures,
                entries_seen=row.entries_seen,
                gone=row.gone,
                last_polled_at=row.last_polled_at,
                last_success_at=row.last_success_at,
                next_poll_at=row.next_poll_at,
            )
        )
    return statuses


# --- editing the config's feeds ---------------------------------------------------------------


def _same_url_key(url: str) -> str:
    """URLs that name the same feed compare equal: scheme and host are case-insensitive."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc.lower()
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=netloc))


def _scalar(value: str) -> str:
    """`value` as a one-line YAML scalar, quoted only when YAML needs it."""
    text = yaml.safe_dump(value, width=1_000_000, allow_unicode=True, default_style=None)
    return text.removesuffix("\n...\n").strip()


def _entry_lines(
    name: str | None, url: str, *, dash: str, indent: int, url_first: bool, newline: str
) -> str:
    pairs = [("url", url), ("name", name)] if url_first else [("name", name), ("url", url)]
    present = [(k, v) for k, v in pairs if v]
    lines = [f"{dash}{present[0][0]}: {_scalar(present[0][1])}"]
    lines += [f"{' ' * indent}{k}: {_scalar(v)}" for k, v in present[1:]]
    return newline.join(lines) + newline


def _line_end(text: str, index: int) -> int:
    """Where the line holding `index` ends, past its newline."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _last_leaf(node: yaml.Node) -> yaml.Node:
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node


def insert_feeds(text: str, feeds: Sequence[tuple[str | None, str]], *, source: str) -> str:
    """`text` with (name, url) entries appended to its `feeds:` list, all else untouched.

    Follows the layout of the entries already there (indentation, and whether `url` or
    `name` comes first); creates the `feeds:` section when there is none.
    """
    if not feeds:
        return text
    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise FeedsAdminError(f"{where}: not valid YAML, not edited") from None
    section: tuple[yaml.Node, yaml.Node] | None = None
    if isinstance(root, yaml.MappingNode):
        section = next(
            (
                (k, v)
                for k, v in root.value
                if isinstance(k, yaml.ScalarNode) and k.value == "feeds"
            ),
            None,
        )
    elif root is not None:
        raise FeedsAdminError(f"{source}:1: the config must be a mapping of sections")

    if section is None:  # no feeds yet: a new section at the end
        body = "".join(
            _entry_lines(n, u, dash="  - ", indent=4, url_first=False, newline=newline)
            for n, u in feeds
        )
        lead = "" if not text or text.endswith(("\n", "\r")) else newline
        return f"{text}{lead}feeds:{newline}{body}"

    key, value = section
    if isinstance(value, yaml.SequenceNode) and value.value and not value.flow_style:
        first = value.value[0]
        line = text.splitlines()[first.start_mark.line]
        dash_col = line.rfind("-", 0, first.start_mark.column)
        dash = " " * dash_col + "-" + " " * (first.start_mark.column - dash_col - 1)
        url_first = (
            isinstance(first, yaml.MappingNode)
            and bool(first.value)
            and first.value[0][0].value == "url"
        )
        end = _last_leaf(value).end_mark
        at = end.index if end.column == 0 else _line_end(text, end.index)
        body = "".join(
            _entry_lines(
                n,
                u,
                dash=dash,
                indent=first.start_mark.column,
                url_first=url_first,
                newline=newline,
            )
            for n, u in feeds
        )
        lead = "" if at == 0 or text[at - 1] == "\n" else newline
        return text[:at] + lead + body + text[at:]
    if isinstance(value, yaml.SequenceNode) and value.flow_style and value.value:
        close = text.rfind("]", value.start_mark.index, value.end_mark.index)
        items = "".join(
            ", {" + ", ".join(f"{k}: {_scalar(v)}" for k, v in (("name", n), ("url", u)) if v) + "}"
            for n, u in feeds
        )
        return text[:close] + items + text[close:]
    empty_flow = isinstance(value, yaml.SequenceNode) and not value.value
    empty_null = isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:null"
    if empty_flow or empty_null:  # `feeds: []` or a bare `feeds:`: items go below the key
        indent = key.start_mark.column + 2
        body = "".join(
            _entry_lines(
                n, u, dash=" " * indent + "- ", indent=indent + 2, url_first=False, newline=newline
            )
            for n, u in feeds
        )
        if empty_flow:  # drop the `[]`, keep any comment after it
            text = text[: value.start_mark.index].rstrip(" ") + text[value.end_mark.index :]
        at = _line_end(text, key.end_mark.index)
        lead = "" if text[:at].endswith("\n") else newline
        return text[:at] + lead + body + text[at:]
    line = key.start_mark.line + 1
    raise FeedsAdminError(f"{source}:{line}: 'feeds' must be a list, not edited")


def _write_config(path: Path, text: str, *, environ: Mapping[str, str]) -> Config:
    """Validate `text` as a config, then replace the file with it atomically."""
    try:
        config = parse_config(text, name=str(path), environ=environ)
    except ConfigError as exc:
        # Our own edit broke it: say so rather than write it.
        raise FeedsAdminError(
            f"{exc.problems[0]} (after the edit; the file was not changed)"
        ) from None
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return config


def _read_config_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FeedsAdminError(f"{path}: cannot read the config: {exc.strerror or exc}") from None


# --- import an OPML file ----------------------------------------------------------------------


@dataclass
class ImportResult:
    added: list[tuple[str | None, str]] = field(default_factory=list)  # (name, url)
    skipped: list[str] = field(default_factory=list)  # URLs already in the config


def import_opml(
    config_path: Path, config: Config, opml_path: Path, *, environ: Mapping[str, str]
) -> ImportResult:
    """Add the OPML file's feeds to the config file, skipping URLs the config has already."""
    try:
        data = opml_path.read_bytes()
    except OSError as exc:
        raise FeedsAdminError(f"{opml_path}: cannot read it: {exc.strerror or exc}") from None
    try:
        subscriptions = parse_opml(data, source=str(opml_path))
    except OpmlError as exc:
        raise FeedsAdminError(str(exc)) from None
    if not subscriptions:
        raise FeedsAdminError(f"{opml_path}: no feeds in this OPML file (no xmlUrl outlines)")
    known = {_same_url_key(f.url) for f in config.feeds}
    result = ImportResult()
    for sub in subscriptions:
        key = _same_url_key(sub.url)
        if key in known:
            result.skipped.append(sub.url)
            continue
        known.add(key)
        result.added.append((sub.title, sub.url))
    if result.added:
        text = _read_config_text(config_path)
        edited = insert_feeds(text, result.added, source=str(config_path))
        _write_config(config_path, edited, environ=environ)
    return result


# --- add one URL ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddResult:
    url: str  # the feed URL written to the config
    name: str
    entries: int
    found_on: str | None = None  # the HTML page it was discovered on
    added: bool = True  # False: the config had it already
    note: str | None = None  # e.g. the URL moved permanently


async def _probe(
    url: str, fetcher: FeedFetcher, parser: ParserPool
) -> tuple[FetchResult, ParsedFeed | FeedParseError]:
    result = await fetcher.fetch(url)
    if not result.ok or result.body is None:
        raise FeedsAdminError(f"{url}: {result.error or f'HTTP {result.status}'}")
    try:
        return result, await parser.parse(result.body, url=result.final_url, headers=result.headers)
    except FeedParseError as exc:
        return result, exc


async def _find_feed(url: str, settings: FetchSettings) -> tuple[str, ParsedFeed, str | None]:
    """(feed URL, parsed feed, page it was found on): the URL itself, or what its page links."""
    with ParserPool(workers=1) as parser:
        async with FeedFetcher(settings) as fetcher:
            result, parsed = await _probe(url, fetcher, parser)
            if isinstance(parsed, ParsedFeed):
                return (result.final_url if result.permanent_redirect else url), parsed, None
            candidates = parsed.links if isinstance(parsed, NotAFeed) else ()
            if not candidates:
                if isinstance(parsed, NotAFeed) and parsed.html:
                    raise FeedsAdminError(
                        f"{url}: an HTML page that links to no RSS, Atom or JSON feed"
                        ' (no <link rel="alternate">)'
                    )
                raise FeedsAdminError(f"{url}: {parsed}")
            problems = []
            for candidate in candidates:
                try:
                    found, found_parsed = await _probe(candidate, fetcher, parser)
                except FeedsAdminError as exc:
                    problems.append(str(exc))
                    continue
                if isinstance(found_parsed, ParsedFeed):
                    feed_url = found.final_url if found.permanent_redirect else candidate
                    return feed_url, found_parsed, url
                problems.append(f"{candidate}: {found_parsed}")
            raise FeedsAdminError(
                f"{url}: the page links {len(candidates)} feed(s), none usable: {problems[0]}"
            )


def add_feed(
    config_path: Path,
    config: Config,
    url: str,
    *,
    name: str | None,
    settings: FetchSettings,
    environ: Mapping[str, str],
) -> AddResult:
    """Probe `url`; for an HTML page find its feed; add the feed to the config file."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FeedsAdminError(f"{url}: not an http(s) URL")
    known = {_same_url_key(f.url): f for f in config.feeds}
    listed = known.get(_same_url_key(url))
    if listed is not None:
        return AddResult(url=listed.url, name=listed.name, entries=0, added=False)
    feed_url, parsed, page = asyncio.run(_find_feed(url, settings))
    title = name or parsed.title or (urlsplit(feed_url).hostname or feed_url)
    note = None
    if page is None and feed_url != url:
        note = f"{url} moved permanently to {feed_url}: added the new URL"
    existing = known.get(_same_url_key(feed_url))
    if existing is not None:
        return AddResult(
            url=existing.url,
            name=existing.name or title,
            entries=len(parsed.entries),
            found_on=page,
            added=False,
        )
    text = _read_config_text(config_path)
    edited = insert_feeds(text, [(title, feed_url)], source=str(config_path))
    _write_config(config_path, edited, environ=environ)
    return AddResult(
        url=feed_url, name=title, entries=len(parsed.entries), found_on=page, note=note
    )
