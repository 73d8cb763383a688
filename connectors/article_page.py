"""Article pages for summary-only feeds: fetched as politely as feeds, main text extracted.

The fetch is `FeedFetcher`'s (User-Agent, per-host limit, size cap, timeouts, total deadline);
robots.txt is read once per host and honoured. The extractor (trafilatura) is imported on
first use: it costs time and memory that parser workers and runs without pages never pay.
"""

from __future__ import annotations

import asyncio
import time
import urllib.robotparser
from dataclasses import dataclass
from typing import Final

from connectors.http import FeedFetcher, origin_key

# A 4xx robots.txt means no rules (RFC 9309 2.3.1.3); an unreachable one means "stay out".
_ROBOTS_ALLOW_ALL = "User-agent: *\nAllow: /\n"
_ROBOTS_DISALLOW_ALL = "User-agent: *\nDisallow: /\n"
_ROBOTS_KEPT_S: Final = 24 * 3600.0  # RFC 9309 2.4: no longer than 24 hours
_UNREACHABLE_KEPT_S: Final = 600.0  # a server that was down is asked again soon


@dataclass(frozen=True, slots=True)
class PageText:
    """An article page's main text, or why there is none (`text` is then None)."""

    url: str
    text: str | None
    problem: str | None = None


class RobotsRules:
    """robots.txt per host, fetched once and kept for a day (ten minutes when unreachable)."""

    def __init__(self) -> None:
        self._rules: dict[str, tuple[urllib.robotparser.RobotFileParser, float]] = {}
        self._pending: dict[str, asyncio.Future[urllib.robotparser.RobotFileParser]] = {}

    async def allows(self, fetcher: FeedFetcher, url: str) -> bool:
        origin = origin_key(url)
        rules, expires = self._rules.get(origin, (None, 0.0))
        if rules is None or expires < time.monotonic():
            rules = await self._load(fetcher, origin)
        return rules.can_fetch(fetcher.settings.user_agent, url)

    async def _load(self, fetcher: FeedFetcher, origin: str) -> urllib.robotparser.RobotFileParser:
        pending = self._pending.get(origin)
        if pending is not None:  # another page of this host is reading it: wait for that
            return await asyncio.shield(pending)
        future: asyncio.Future[urllib.robotparser.RobotFileParser] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[origin] = future
        try:
            result = await fetcher.fetch(f"{origin}/robots.txt")
            kept_s = _ROBOTS_KEPT_S
            if result.ok and result.body is not None:
                text = result.body.decode("utf-8", errors="replace")
            elif result.status is not None and 400 <= result.status < 500:
                text = _ROBOTS_ALLOW_ALL
            else:
                text, kept_s = _ROBOTS_DISALLOW_ALL, _UNREACHABLE_KEPT_S
            rules = urllib.robotparser.RobotFileParser()
            rules.parse(text.splitlines())
            self._rules[origin] = (rules, time.monotonic() + kept_s)
            future.set_result(rules)
            return rules
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiting pages see it, the loop does not log it
            raise
        finally:
            del self._pending[origin]


async def fetch_page_text(fetcher: FeedFetcher, robots: RobotsRules, url: str) -> PageText:
    """The page's main text; a refusal, an error or a page with no article text is a
    `problem`, never an exception: the article is then matched on what its feed gave."""
    if not await robots.allows(fetcher, url):
        return PageText(url, None, "robots.txt disallows it")
    result = await fetcher.fetch(url)
    if not result.ok or result.body is None:
        return PageText(url, None, result.error or f"HTTP {result.status}")
    content_type = result.headers.get("content-type", "text/html").lower()
    if "html" not in content_type:
        return PageText(url, None, f"not an HTML page ({content_type.split(';')[0]})")
    text = await asyncio.to_thread(extract_main_text, result.body, result.final_url)
    if not text:
        return PageText(url, None, "no article text on the page")
    return PageText(url, text)


def extract_main_text(page: bytes | str, url: str | None = None) -> str:
    """The article's own paragraphs, one a line: navigation, related links, comments and
    banners left out."""
    import trafilatura  # deferred: about 0.3 s and 30 MB, paid only where pages are read

    text = trafilatura.extract(
        page,
        url=url,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        favor_precision=True,
        deduplicate=False,
    )
    return "\n".join(line.strip() for line in (text or "").splitlines() if line.strip())
