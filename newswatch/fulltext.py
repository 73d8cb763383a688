"""Article pages for summary-only feeds: which entries need one, a time budget, a cache.

A rule about a visit cannot match a feed that carries only the headline; the page's main
text can. It never holds a cycle up: pages are read within a budget per batch of feeds, and
an article whose page fails is matched on what its feed gave. Articles the budget did not
reach wait for the next cycle (the caller leaves them unstored). Pages are read on the
cycle's event loop before its store step: never inside a transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from connectors import FeedFetcher, FetchSettings, PageText, RobotsRules, fetch_page_text
from newswatch.models import CleanArticle

FullTextMode = Literal["auto", "always", "never"]
AUTO_MIN_WORDS: Final = 80  # fewer words than this in the entry: auto reads the page
_CACHE_SIZE: Final = 4096


def word_count(text: str) -> int:
    return len(text.split())


def wants_page(article: CleanArticle, mode: FullTextMode) -> bool:
    """Whether the article's page is worth a fetch under the feed's `full_text` setting."""
    if mode == "never" or not article.url or not article.canonical_url:
        return False
    return mode == "always" or word_count(f"{article.summary} {article.body}") < AUTO_MIN_WORDS


class PageCache:
    """Extracted text (or a failure) by canonical URL, for the process's life: a page read
    once is not fetched again when another feed or a later cycle brings the same article."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self._size = size
        self._pages: OrderedDict[str, PageText] = OrderedDict()
        self.robots = RobotsRules()

    def get(self, url: str) -> PageText | None:
        page = self._pages.get(url)
        if page is not None:
            self._pages.move_to_end(url)
        return page

    def put(self, url: str, page: PageText) -> None:
        self._pages[url] = page
        self._pages.move_to_end(url)
        while len(self._pages) > self._size:
            self._pages.popitem(last=False)


PROCESS_CACHE: Final = PageCache()


@dataclass
class Budget:
    """Seconds a batch of feeds may spend reading article pages, shared by its feeds."""

    seconds: float
    spent: float = 0.0

    def remaining(self) -> float:
        return max(0.0, self.seconds - self.spent)


@dataclass(frozen=True, slots=True)
class FullText:
    """The articles to match now (with page text where one was read), the ones left for
    the next cycle, and what happened to the pages."""

    ready: list[CleanArticle]
    deferred: list[CleanArticle]
    read: int = 0
    failed: list[PageText] = field(default_factory=list)


def with_page_text(article: CleanArticle, page: PageText) -> CleanArticle:
    """The article with the page's text as its body, when the page says more than the feed
    (a paywall stub or a teaser page says less: the feed's text stays)."""
    if page.text is None:
        return article
    if word_count(page.text) <= word_count(f"{article.summary} {article.body}"):
        return article
    return replace(article, body=page.text)


async def fill(
    articles: Sequence[CleanArticle],
    *,
    mode: FullTextMode,
    settings: FetchSettings,
    budget: Budget,
    cache: PageCache = PROCESS_CACHE,
) -> FullText:
    """Read the pages the articles need, within the budget."""
    wanted = {a.canonical_url for a in articles if wants_page(a, mode) and a.canonical_url}
    pages = {url: page for url in wanted if (page := cache.get(url)) is not None}
    to_read = [url for url in wanted if url not in pages]
    if to_read and budget.remaining() > 0:
        started = time.monotonic()
        read = await _read_pages(to_read, settings, cache.robots, budget.remaining())
        budget.spent += time.monotonic() - started
        for url, page in read.items():
            cache.put(url, page)
        pages.update(read)
    ready: list[CleanArticle] = []
    deferred: list[CleanArticle] = []
    for article in articles:
        if article.canonical_url is None or article.canonical_url not in wanted:
            ready.append(article)
        elif article.canonical_url in pages:
            ready.append(with_page_text(article, pages[article.canonical_url]))
        else:
            deferred.append(article)
    failed = [pages[url] for url in to_read if url in pages and pages[url].text is None]
    read_ok = sum(1 for url in to_read if url in pages and pages[url].text is not None)
    return FullText(ready, deferred, read_ok, failed)


async def _read_pages(
    urls: Sequence[str], settings: FetchSettings, robots: RobotsRules, seconds: float
) -> dict[str, PageText]:
    """Pages read before the time runs out; the others are cancelled, not failed."""
    async with FeedFetcher(settings) as fetcher:
        tasks = {asyncio.create_task(fetch_page_text(fetcher, robots, url)): url for url in urls}
        done, pending = await asyncio.wait(tasks, timeout=seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    pages: dict[str, PageText] = {}
    for task in done:
        url = tasks[task]
        error = task.exception()
        pages[url] = (
            PageText(url, None, f"{type(error).__name__}: {error}") if error else task.result()
        )
    return pages
