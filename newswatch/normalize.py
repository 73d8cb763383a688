"""RawEntry -> clean article: canonical URL, plain text, UTC time, fingerprint, story key.

The fingerprint and canonical URL are what make "never alerted twice" hold when
outlets add tracking parameters or syndicate the same story.
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connectors.entry import RawEntry
from newswatch.html_text import html_to_text
from newswatch.language import detect_language
from newswatch.models import CleanArticle

# Query parameters that only say where a click came from; dropping them makes
# the same story's links equal.
_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "twclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "cmpid",
        "ocid",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "oly_", "vero_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str | None) -> str | None:
    """Lower-case scheme and host, drop default port, fragment and tracking parameters."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING_EXACT and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query, doseq=True), ""))


def story_key(title: str) -> str:
    """A key equal for the same headline however it is cased, accented or punctuated."""
    folded = unicodedata.normalize("NFKD", title.casefold())
    letters = "".join(c for c in folded if c.isalnum() or c.isspace())
    return hashlib.sha256(" ".join(letters.split()).encode()).hexdigest()[:32]


def fingerprint(entry: RawEntry, canonical: str | None, published: datetime | None) -> str:
    """guid (scoped to its feed: guids are unique per feed only), else URL, else title+date."""
    if entry.guid and entry.guid.strip():
        basis = f"guid\x00{entry.feed_url}\x00{entry.guid.strip()}"
    elif canonical:
        basis = f"url\x00{canonical}"
    else:
        when = published.isoformat() if published else ""
        basis = f"title\x00{entry.feed_url}\x00{entry.title.strip()}\x00{when}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def published_date(published: datetime | None, *, fetched_at: datetime) -> datetime | None:
    """The entry's date in UTC, or None when it gave none; a date in the future is a
    publisher's clock or time-zone mistake and is clamped to when we fetched it, so it
    neither sorts above today's news nor survives pruning."""
    if published is None:
        return None
    return min(published.astimezone(UTC), fetched_at)


def normalize_entry(entry: RawEntry, *, fetched_at: datetime, source: str = "") -> CleanArticle:
    canonical = canonical_url(entry.link)
    published = published_date(entry.published, fetched_at=fetched_at)
    title = html_to_text(entry.title)
    summary = html_to_text(entry.summary_html)
    body = html_to_text(entry.content_html)
    if body == summary:
        body = ""
    return CleanArticle(
        fingerprint=fingerprint(entry, canonical, published),
        canonical_url=canonical,
        story_key=story_key(title),
        feed_url=entry.feed_url,
        source=source or entry.source_title,
        title=title,
        summary=summary,
        body=body,
        url=entry.link.strip() if entry.link else None,
        author=entry.author,
        published_at=published or fetched_at,
        fetched_at=fetched_at,
        lang=detect_language(title, summary, body),
        date_known=published is not None,
    )
