"""Where bytes come from and how they become entries; never touches the database.

The public API, by name. Each name is imported from its module on first use, so a parser
worker that imports `connectors.feed` does not also load httpx through this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from connectors.article_page import PageText, RobotsRules, extract_main_text, fetch_page_text
    from connectors.discover import find_feed_links
    from connectors.entry import RawEntry
    from connectors.feed import (
        FeedParseError,
        NotAFeed,
        ParsedFeed,
        ParserCrashed,
        ParseTimeout,
        parse_feed,
    )
    from connectors.http import (
        FeedFetcher,
        FetchResult,
        FetchSettings,
        format_size,
        origin_key,
        parse_max_age,
        parse_retry_after,
    )
    from connectors.opml import OpmlError, OpmlFeed, parse_opml
    from connectors.parser_pool import ParserPool, start_forkserver

_MODULE_OF: Final = {
    "PageText": "connectors.article_page",
    "RobotsRules": "connectors.article_page",
    "extract_main_text": "connectors.article_page",
    "fetch_page_text": "connectors.article_page",
    "find_feed_links": "connectors.discover",
    "RawEntry": "connectors.entry",
    "FeedParseError": "connectors.feed",
    "NotAFeed": "connectors.feed",
    "ParseTimeout": "connectors.feed",
    "ParsedFeed": "connectors.feed",
    "ParserCrashed": "connectors.feed",
    "ParserPool": "connectors.parser_pool",
    "start_forkserver": "connectors.parser_pool",
    "parse_feed": "connectors.feed",
    "FeedFetcher": "connectors.http",
    "FetchResult": "connectors.http",
    "FetchSettings": "connectors.http",
    "format_size": "connectors.http",
    "origin_key": "connectors.http",
    "parse_max_age": "connectors.http",
    "parse_retry_after": "connectors.http",
    "OpmlError": "connectors.opml",
    "OpmlFeed": "connectors.opml",
    "parse_opml": "connectors.opml",
}

__all__ = [
    "FeedFetcher",
    "FeedParseError",
    "FetchResult",
    "FetchSettings",
    "NotAFeed",
    "OpmlError",
    "OpmlFeed",
    "PageText",
    "ParseTimeout",
    "ParsedFeed",
    "ParserCrashed",
    "ParserPool",
    "RawEntry",
    "RobotsRules",
    "extract_main_text",
    "fetch_page_text",
    "find_feed_links",
    "format_size",
    "origin_key",
    "parse_feed",
    "parse_max_age",
    "parse_opml",
    "parse_retry_after",
    "start_forkserver",
]


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'connectors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
