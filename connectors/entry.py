"""The value every connector returns: one feed entry as the source gave it.

Connectors never touch the database; `newswatch.normalize` turns these into articles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry of a feed, before cleaning.

    Text fields keep the source's HTML; `published` is timezone-aware UTC or None
    when the feed gave no usable date.
    """

    feed_url: str
    source_title: str
    guid: str | None
    link: str | None
    title: str
    summary_html: str
    content_html: str
    published: datetime | None
    author: str | None = None
