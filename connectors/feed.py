"""Feed bytes -> RawEntry values: RSS / Atom / RDF through feedparser, JSON Feed by hand.

feedparser is tolerant (its loose parser keeps entries from broken XML) but it is CPU-bound
and synchronous, so `ParserPool` runs it away from the event loop with a time limit.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import html
import io
import json
import multiprocessing
import multiprocessing.context
import os
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.api

from connectors.discover import find_feed_links
from connectors.entry import RawEntry

__all__ = [
    "FeedParseError",
    "NotAFeed",
    "ParseTimeout",
    "ParsedFeed",
    "ParserCrashed",
    "ParserPool",
    "parse_feed",
]

_HTML_START: Final = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b",
    re.IGNORECASE | re.DOTALL,
)
_JSONFEED_VERSION: Final = "https://jsonfeed.org/version/1"
_BOM: Final = b"\xef\xbb\xbf"


# --- entity bombs and external entities ------------------------------------------------------
#
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


def _entry_content(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content")
    if not isinstance(contents, list) or not contents:
        return ""
    # Prefer an HTML body when a feed offers several representations.
    for item in contents:
        if isinstance(item, Mapping) and "html" in _str(item.get("type")):
            return _str(item.get("value"))
    first = contents[0]
    return _str(first.get("value")) if isinstance(first, Mapping) else ""


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
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=lowered)
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
        title=_str(entry.get("title")),
        summary_html=_str(entry.get("summary")),
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
                title=_str(item.get("title")),
                summary_html=html.escape(_str(item.get("summary"))),
                content_html=content,
                published=_iso_date(item.get("date_published"))
                or _iso_date(item.get("date_modified")),
                author=_json_author(item),
            )
        )
    return ParsedFeed(title=title, entries=entries, version=version, warning=None, ttl_minutes=None)


# --- the pool ---------------------------------------------------------------------------------


def _parse_in_worker(
    body: bytes, url: str, headers: dict[str, str] | None
) -> ParsedFeed | FeedParseError:
    """Runs in a child process; returns the error instead of raising to keep pickling simple."""
    try:
        return parse_feed(body, url=url, headers=headers)
    except FeedParseError as exc:
        return exc


def _exit_with_parent() -> None:
    """Worker initializer: exit when the process that uses the pool is gone.

    A monitor killed with SIGKILL (the OOM killer, a supervisor) cannot stop its workers, and
    they would wait for work forever, keeping the forkserver (and any pipe they inherited,
    such as the monitor's stdout) alive with them. multiprocessing gives each worker a
    sentinel of the process that asked for it, which becomes ready when that process dies.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers fork from a clean single-threaded server process, never from the caller.

    Forking the monitor itself (threads from httpx, Prefect, the event loop) can copy a lock
    in a held state and hang the child; spawning each worker re-imports feedparser every
    time. The forkserver imports this module once and forks cheap, clean workers from it.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # Windows, some macOS set-ups
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class ParserPool:
    """Runs parse_feed in a process pool sized to the cores, with a per-document time limit.

    Parsing is CPU-bound: in the event loop it would stall every fetch. At most `workers`
    documents are handed to the pool at once, so the limit times the parse, not the queue. A
    document that runs past the limit gets the workers killed and the pool replaced, so one
    pathological feed cannot wedge the monitor; documents that were parsing next to it are
    retried once in the new pool. Documents under `thread_below_bytes` are parsed in a thread
    instead (no process round trip); they cannot be interrupted, so keep that threshold small.
    """

    def __init__(
        self,
        *,
        workers: int | None = None,
        timeout_s: float = 30.0,
        thread_below_bytes: int = 0,
    ) -> None:
        self.workers = workers or _usable_cores()
        self.timeout_s = timeout_s
        self.thread_below_bytes = thread_below_bytes
        self._executor: ProcessPoolExecutor | None = None
        self._slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=_worker_context(),
                initializer=_exit_with_parent,
            )
        return self._executor

    def _slot(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            # One semaphore per event loop: asyncio primitives bind to the loop that uses them.
            self._slots = {lp: sem for lp, sem in self._slots.items() if not lp.is_closed()}
            slot = self._slots[loop] = asyncio.Semaphore(self.workers)
        return slot

    def _kill(self, executor: ProcessPoolExecutor) -> None:
        """Kill the pool's workers: the only way to stop a parse that is running."""
        if self._executor is not executor:
            return  # someone already replaced it
        self._executor = None
        # _processes is private but stable since 3.2; there is no public way to kill a worker.
        processes = dict(getattr(executor, "_processes", None) or {})
        for process in processes.values():
            process.kill()
        for process in processes.values():
            process.join(timeout=1.0)  # SIGKILL is immediate: this only reaps the child
        # Futures still running fail with BrokenProcessPool (their callers retry).
        executor.shutdown(wait=False)

    async def _run_once(
        self, body: bytes, url: str, headers: dict[str, str] | None, timeout_s: float
    ) -> ParsedFeed | FeedParseError:
        executor = self._pool()
        try:
            future: Future[ParsedFeed | FeedParseError] = executor.submit(
                _parse_in_worker, body, url, headers
            )
        except RuntimeError:  # BrokenProcessPool included: the pool died between uses
            self._kill(executor)
            raise BrokenProcessPool("pool was broken") from None
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            self._kill(executor)
            raise ParseTimeout(timeout_s) from None
        except BrokenProcessPool:
            self._kill(executor)
            raise

    async def parse(
        self,
        body: bytes,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> ParsedFeed:
        """Parse off the event loop; raises as parse_feed does, ParseTimeout or ParserCrashed.

        `timeout_s` overrides the pool's limit for this document.
        """
        limit = self.timeout_s if timeout_s is None else timeout_s
        plain = dict(headers) if headers is not None else None
        if len(body) < self.thread_below_bytes:
            return await asyncio.to_thread(parse_feed, body, url=url, headers=plain)
        async with self._slot():
            try:
                outcome = await self._run_once(body, url, plain, limit)
            except BrokenProcessPool:
                # Killed because another document overran, or a worker died: one more try.
                try:
                    outcome = await self._run_once(body, url, plain, limit)
                except BrokenProcessPool:
                    raise ParserCrashed() from None
        if isinstance(outcome, FeedParseError):
            raise outcome
        return outcome

    def close(self, *, grace_s: float = 2.0) -> None:
        """Stop the workers; one still busy after `grace_s` is killed. Idempotent."""
        executor = self._executor
        self._executor = None
        if executor is None:
            return
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace_s
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():  # stuck in a parse nobody awaits any more
                process.kill()
                process.join(timeout=1.0)

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
