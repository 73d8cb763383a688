"""The example outlets in `examples/feeds/`, served by the test feed server or from memory
(connectors.testing.FeedTransport), and a config that watches them for the worked example
(`UK AND China AND visit`)."""

from __future__ import annotations

from pathlib import Path

from connectors.testing import FeedTransport
from tests.support.feedserver import FeedServer, Route

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FEEDS = {
    "/harbour-gazette.xml": ("Harbour Gazette", "application/rss+xml"),
    "/northern-ledger.atom": ("Northern Ledger", "application/atom+xml"),
    "/continental-wire.xml": ("Continental Wire", "application/rss+xml"),
}


# where a FeedTransport serves them: no DNS is asked, the transport answers
TRANSPORT_BASE = "https://feeds.example"
Feeds = FeedServer | FeedTransport


def feed_url(feeds: Feeds, path: str) -> str:
    """The URL of `path` on the server, or in the transport."""
    return feeds.url(path) if isinstance(feeds, FeedServer) else TRANSPORT_BASE + path


def serve_examples(feeds: Feeds) -> None:
    for path, (_, ctype) in FEEDS.items():
        body = (EXAMPLES / "feeds" / path.lstrip("/")).read_bytes()
        if isinstance(feeds, FeedServer):
            feeds.routes[path] = Route(body=body, content_type=ctype)
        else:
            feeds.set(feed_url(feeds, path), body, content_type=ctype)


def example_feeds() -> FeedTransport:
    """A transport serving the example outlets."""
    feeds = FeedTransport()
    serve_examples(feeds)
    return feeds


def write_config(
    tmp_path: Path,
    server: Feeds,
    channel_url: str,
    *,
    extra_feeds: dict[str, str] | None = None,
) -> Path:
    feeds = [(name, feed_url(server, path)) for path, (name, _) in FEEDS.items()]
    feeds += [(name, feed_url(server, path)) for path, name in (extra_feeds or {}).items()]
    lines = ["feeds:"]
    for name, url in feeds:
        lines += [f"  - name: {name}", f"    url: {url}"]
    lines += [
        "lists:",
        "  uk: [UK, Britain, British, 'United Kingdom']",
        "rules:",
        "  - id: uk-china-visit",
        "    name: UK-China visits",
        "    query: UK AND China AND visit",
        "    channels: [desk-email]",
        "channels:",
        "  desk-email:",
        f"    url: '{channel_url}'",
    ]
    path = tmp_path / "newswatch.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
