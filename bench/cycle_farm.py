"""The workload of bench/cycle.py: generated news feeds served on many origins, a json://
receiver for the alerts, and the config that points newswatch at them.

N feeds of M news-length entries (about one in fifty names a rule's place with its topic, as
many name the place alone) and R rules of a few shapes; `serve` runs them as HTTP/1.1
servers with ETags, as `bench/cycle.py --serve` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Final

_COMMON_WORDS: Final = """
the a of to and in that for on with as at by from was said would after over new more year
years government people city council minister police week officials report plans public
local national people's two three first last state service health school water market
prices energy rail road bridge housing workers union company board court judge hospital
patients students teachers museum festival weather river harbour coast farm families
residents visitors spokesperson statement budget funding project community support
decision meeting morning evening tuesday wednesday thursday friday saturday
"""
COMMON: Final = _COMMON_WORDS.split()
_TOPIC_WORDS: Final = "visit talks trade summit election strike merger storm inquiry contract"
TOPICS: Final = [*_TOPIC_WORDS.split(), "treaty", "protest"]
_SYLLABLE_TEXT: Final = "val mor ten kas ril dor bren sol mar lin quo zet"
SYLLABLES: Final = _SYLLABLE_TEXT.split()
EPOCH: Final = datetime(2024, 10, 18, 9, tzinfo=UTC)


def name(k: int) -> str:
    """The k-th made-up place name (Valmorten, ...): rare words, as real rules look for."""
    a, b, c = k % 12, (k // 12) % 12, (k // 144) % 12
    return (SYLLABLES[a] + SYLLABLES[b] + SYLLABLES[c]).capitalize()


def rule_query(k: int) -> str:
    place, topic, other = name(k), TOPICS[k % len(TOPICS)], TOPICS[(k + 5) % len(TOPICS)]
    shapes = (
        f"{place} AND {topic}",
        f"{place} NEAR/10 ({topic} OR {other})",
        f"title:{place} OR ({place} AND {topic})",
        f"{place} AND {topic} AND NOT ukulele",
    )
    return shapes[k % len(shapes)]


def paragraph(seed: int, words: int) -> str:
    digest = hashlib.blake2b(seed.to_bytes(8, "little"), digest_size=64).digest()
    return " ".join(COMMON[(digest[i % 64] + i * 7) % len(COMMON)] for i in range(words))


def feed_document(feed: int, entries: int, rules: int, *, short: bool = False) -> bytes:
    """An RSS 2.0 feed of news-sized items (three paragraphs, about 1.5 kB of HTML each).

    About one item in fifty names a rule's place with its topic (a match); as many name the
    place alone (a near miss the rules must look at and reject). `short`: one sentence each.
    """
    if short:
        return short_feed_document(feed, entries, rules)
    items = []
    for j in range(entries):
        seed = feed * 1000 + j
        lead, middle, close = (paragraph(seed * 3 + p, 60) for p in range(3))
        title = f"Outlet {feed}: {paragraph(seed, 8)}"
        roll = (seed * 2654435761 >> 11) % 50  # spread over feeds and entries alike
        k = (feed * 31 + j * 17) % max(rules, 1)
        if roll == 0:
            title += f" as {name(k)} {TOPICS[k % len(TOPICS)]} begins"
            middle += f". {name(k)} said the {TOPICS[k % len(TOPICS)]} would go ahead"
        elif roll == 1:
            middle += f". {name(k)} was not mentioned by officials"
        when = format_datetime(EPOCH - timedelta(minutes=j), usegmt=True)
        items.append(
            f"<item><title>{title}</title>"
            f"<link>https://outlet{feed}.example/news/{j}?utm_source=rss</link>"
            f"<guid isPermaLink='false'>outlet-{feed}-story-{j}</guid><pubDate>{when}</pubDate>"
            f"<description>&lt;p&gt;{lead}.&lt;/p&gt;&lt;p&gt;{middle}.&lt;/p&gt;"
            f"&lt;p&gt;&lt;a href=&quot;/more/{j}&quot;&gt;{close}&lt;/a&gt;.&lt;/p&gt;"
            "</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {feed}</title><link>https://outlet{feed}.example/</link>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def short_feed_document(feed: int, entries: int, rules: int) -> bytes:
    """A feed of short items (a headline and a sentence): the shape of a very long feed."""
    items = []
    for j in range(entries):
        k = (feed * 31 + j * 17) % max(rules, 1)
        extra = f" {name(k)} {TOPICS[k % len(TOPICS)]}" if j % 50 == 0 else ""
        when = format_datetime(EPOCH - timedelta(seconds=j), usegmt=True)
        items.append(
            f"<item><title>Brief {j}: {paragraph(j, 5)}{extra}</title>"
            f"<link>https://outlet{feed}.example/b/{j}</link>"
            f"<pubDate>{when}</pubDate><description>{paragraph(j + 1, 9)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {feed}</title>" + "".join(items) + "</channel></rss>"
    ).encode()


# --- the farm: feeds on many origins, and a json:// receiver (`cycle.py --serve`) ------------


def http_response(status: int, body: bytes, headers: dict[str, str]) -> bytes:
    reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def serve(feeds: int, entries: int, rules: int, origins: int, short: bool) -> None:
    bodies = {i: feed_document(i, entries, rules, short=short) for i in range(feeds)}
    received = [0]

    async def handle(reader: Any, writer: Any) -> None:
        """HTTP/1.1 with keep-alive: one request after another on a connection."""
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = {}
                for line in lines[1:]:
                    key, _, value = line.partition(":")
                    headers[key.strip().lower()] = value.strip()
                if method == "POST":  # the json:// receiver
                    await reader.readexactly(int(headers.get("content-length", "0")))
                    received[0] += 1
                    writer.write(http_response(200, b"{}", {"Content-Type": "application/json"}))
                elif path == "/_received":
                    writer.write(http_response(200, str(received[0]).encode(), {}))
                else:
                    writer.write(feed_answer(bodies, path, headers))
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    ports = []
    for _ in range(origins + 1):  # the last one receives the alerts
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        ports.append(server.sockets[0].getsockname()[1])
    print(json.dumps({"ports": ports[:-1], "hook": ports[-1]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed


def feed_answer(bodies: dict[int, bytes], path: str, headers: dict[str, str]) -> bytes:
    try:
        feed = int(path.rsplit("/", 1)[1].split(".")[0])
        body = bodies[feed]
    except (IndexError, ValueError, KeyError):
        return http_response(404, b"not found", {})
    validators = {"ETag": f'"v1-{feed}"', "Last-Modified": "Fri, 18 Oct 2024 09:00:00 GMT"}
    if headers.get("if-none-match") == validators["ETag"]:
        return http_response(304, b"", validators)
    return http_response(200, body, {"Content-Type": "application/rss+xml", **validators})


def config_text(ports: list[int], hook: int, feeds: int, rules: int) -> str:
    lines = ["monitor:", "  contact_url: https://bench.example/contact", "feeds:"]
    per_origin = -(-feeds // len(ports))
    for i in range(feeds):
        port = ports[i // per_origin]
        lines += [f"  - name: Outlet {i}", f"    url: http://127.0.0.1:{port}/feed/{i}.xml"]
    lines += ["channels:", "  hook:", f"    url: json://127.0.0.1:{hook}/hook"]
    lines += ["    all_rules: true", "rules:"]
    for k in range(rules):
        lines += [f"  - id: rule-{k}", f"    query: '{rule_query(k)}'"]
    return "\n".join(lines) + "\n"
