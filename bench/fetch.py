"""Benchmark of polling a farm of feeds: the real pipeline (run_cycle, SQLite, no Prefect)
against a farm of local HTTP servers that answer each request after a delay.

Three cycles over the same feeds:

  (a) new        every entry of every feed is new: fetch, parse, normalise, match, store;
  (b) 304        every feed answers 304 Not Modified to our validators;
  (c) unchanged  half the servers ignore validators and send the whole, unchanged body:
                 the body hash skips parsing.

The farm runs in a separate process on many ports of 127.0.0.1 (the per-host limit is per
origin: one origin for 1,000 feeds would measure the limit, not the pipeline). Each server
counts the requests it is answering at once, so `max_concurrent_per_host` is measured where
a publisher would see it. Prints a few human lines, then one JSON object on the last line:

    {"feeds": 1000, "new_s": ..., "not_modified_s": ..., "unchanged_s": ...,
     "ratio_not_modified": ..., "ratio_unchanged": ..., "peak_rss_mb": ...,
     "max_concurrent_per_host": ..., ...}

`peak_rss_mb` is the pipeline process's high-water mark (VmHWM); `parser_peak_rss_mb` is the
largest parser worker's, which live in processes of their own.

    .venv/bin/python bench/fetch.py                        # 1,000 feeds, the full run
    .venv/bin/python bench/fetch.py --feeds 100 --entries 20   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = [
    *("minister", "visit", "talks", "trade", "summit", "council", "budget", "harbour"),
    *("rail", "energy", "court", "election", "market", "storm", "climate", "health"),
    *("schools", "police", "festival", "museum", "bridge"),
]


# --- the farm (runs in its own process: `fetch.py --serve`) -----------------------------------


def feed_document(feed: int, entries: int) -> bytes:
    """An RSS 2.0 feed of `entries` news-sized items, unique to `feed`."""
    items = []
    for j in range(entries):
        words = " ".join(WORDS[(feed * 7 + j * 3 + k) % len(WORDS)] for k in range(40))
        # About one entry in a hundred is news the rules look for.
        headline = "UK Foreign Secretary to visit Beijing" if (feed + j) % 100 == 0 else "news"
        items.append(
            f"<item><title>Outlet {feed} story {j}: {WORDS[j % len(WORDS)]} {headline}</title>"
            f"<link>https://outlet{feed}.example/news/{j}?utm_source=rss</link>"
            f"<guid isPermaLink='false'>outlet-{feed}-story-{j}</guid>"
            f"<pubDate>{format_datetime(datetime(2024, 10, 18, 9, tzinfo=UTC) - timedelta(minutes=j), usegmt=True)}</pubDate>"  # noqa: E501  (one item per line reads best)
            f"<description>&lt;p&gt;{words}. {words}.&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {feed}</title><link>https://outlet{feed}.example/</link>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


@dataclass
class Farm:
    feeds: int
    origins: int
    delay_s: float
    bodies: dict[int, bytes] = field(default_factory=dict)
    in_flight: list[int] = field(default_factory=list)
    max_in_flight: list[int] = field(default_factory=list)
    ignore_validators: set[int] = field(default_factory=set)  # origin indexes
    requests: int = 0
    not_modified: int = 0

    async def handle(self, origin: int, reader: Any, writer: Any) -> None:
        """HTTP/1.1 with keep-alive, as httpx uses it: one request after another."""
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                if path.startswith("/_control/"):
                    body = self.control(path)
                    writer.write(self.response(200, body, {"Content-Type": "application/json"}))
                    await writer.drain()
                    continue
                self.in_flight[origin] += 1
                self.max_in_flight[origin] = max(self.max_in_flight[origin], self.in_flight[origin])
                try:
                    await asyncio.sleep(self.delay_s)
                    writer.write(self.answer(origin, path, headers))
                    await writer.drain()
                finally:
                    self.in_flight[origin] -= 1
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def answer(self, origin: int, path: str, headers: dict[str, str]) -> bytes:
        self.requests += 1
        try:
            feed = int(path.rsplit("/", 1)[1].split(".")[0])
            body = self.bodies[feed]
        except (IndexError, ValueError, KeyError):
            return self.response(404, b"not found", {})
        validators = {
            "ETag": f'"v1-{feed}"',
            "Last-Modified": "Fri, 18 Oct 2024 09:00:00 GMT",
        }
        if origin not in self.ignore_validators and headers.get("if-none-match") == f'"v1-{feed}"':
            self.not_modified += 1
            return self.response(304, b"", validators)
        return self.response(200, body, {"Content-Type": "application/rss+xml", **validators})

    @staticmethod
    def response(status: int, body: bytes, headers: dict[str, str]) -> bytes:
        reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def control(self, path: str) -> bytes:
        """Counts so far (then `reset` zeroes the request counts; `ignore-half` turns every
        other server into one that ignores validators)."""
        command = path.removeprefix("/_control/")
        stats = json.dumps(
            {
                "requests": self.requests,
                "not_modified": self.not_modified,
                "max_in_flight": max(self.max_in_flight, default=0),
            }
        ).encode()
        if command == "ignore-half":
            self.ignore_validators = set(range(0, self.origins, 2))
        elif command == "reset":
            self.requests = self.not_modified = 0
        return stats


async def serve(feeds: int, origins: int, entries: int, delay_s: float) -> None:
    farm = Farm(feeds=feeds, origins=origins, delay_s=delay_s)
    farm.bodies = {i: feed_document(i, entries) for i in range(feeds)}
    farm.in_flight = [0] * origins
    farm.max_in_flight = [0] * origins
    ports = []
    for origin in range(origins):

        async def handler(reader: Any, writer: Any, origin: int = origin) -> None:
            await farm.handle(origin, reader, writer)

        server = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=1024)
        ports.append(server.sockets[0].getsockname()[1])
    print(json.dumps({"ports": ports}), flush=True)
    # Serve until the benchmark closes our stdin (or dies).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# --- the benchmark ------------------------------------------------------------------------------


def vm_hwm_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory (VmHWM), in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class WorkerWatch(threading.Thread):
    """Notes the peak memory of this process's descendants (the parser workers)."""

    def __init__(self, exclude: set[int]) -> None:
        super().__init__(daemon=True)
        self.exclude = exclude
        self.peak_mb = 0.0
        self._halt = threading.Event()

    def descendants(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text()
                    parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        mine, found = {os.getpid()}, []
        changed = True
        while changed:
            changed = False
            for pid, parent in parents.items():
                if parent in mine and pid not in mine:
                    mine.add(pid)
                    found.append(pid)
                    changed = True
        return [p for p in found if p not in self.exclude]

    def run(self) -> None:
        while not self._halt.wait(0.25):
            for pid in self.descendants():
                self.peak_mb = max(self.peak_mb, vm_hwm_mb(pid))

    def stop(self) -> None:
        self._halt.set()
        self.join()


def control(port: int, command: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_control/{command}") as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def config_text(ports: list[int], feeds: int, args: argparse.Namespace) -> str:
    lines = [
        "monitor:",
        "  contact_url: https://bench.example/contact",
        "  poll_interval_minutes: 10",
        f"  per_host_limit: {args.per_host_limit}",
        f"  max_concurrent_fetches: {args.concurrency}",
        "feeds:",
    ]
    per_origin = -(-feeds // len(ports))
    for i in range(feeds):
        # Neighbours in the config share a server, so the per-host limit is tested for real.
        port = ports[i // per_origin]
        lines += [f"  - name: Outlet {i}", f"    url: http://127.0.0.1:{port}/feed/{i}.xml"]
    lines += [
        "lists:",
        "  uk: [UK, Britain, British, 'United Kingdom']",
        "rules:",
        "  - id: uk-china-visit",
        "    query: '@uk AND (China OR Beijing) AND visit'",
        "  - id: volcano",
        "    query: volcano NEAR/5 (eruption OR ash)",
        "  - id: central-bank",
        "    query: '\"central bank\" AND (rates OR inflation) AND NOT festival'",
        "  - id: ukulele",
        "    query: ukulele* OR banjo",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50, help="entries per feed")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="server delay per request")
    parser.add_argument("--origins", type=int, default=0, help="servers (default: feeds / 5)")
    parser.add_argument("--per-host-limit", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=50, help="fetches at once, in all")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    origins = args.origins or max(1, args.feeds // 5)
    if args.serve:
        asyncio.run(serve(args.feeds, origins, args.entries, args.delay_ms / 1000))
        return 0

    from newswatch import cycle, store
    from newswatch.config import parse_config

    farm = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--feeds", str(args.feeds), "--origins",
         str(origins), "--entries", str(args.entries), "--delay-ms", str(args.delay_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert farm.stdout is not None
    assert farm.stdin is not None
    ports: list[int] = json.loads(farm.stdout.readline())["ports"]
    watch = WorkerWatch(exclude={farm.pid})
    watch.start()
    try:
        config = parse_config(config_text(ports, args.feeds, args), name="bench.yaml", environ={})
        with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
            engine = store.make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            store.migrate(engine)
            start = datetime.now(UTC)
            times: dict[str, float] = {}
            health: dict[str, dict[str, int]] = {}
            for name, offset, before in (
                ("new", 0, None),
                ("not_modified", 1, None),
                ("unchanged", 2, "ignore-half"),
            ):
                if before:
                    control(ports[0], before)
                control(ports[0], "reset")
                began = time.perf_counter()
                report = cycle.run_cycle(
                    engine, config, environ={}, now=start + timedelta(hours=offset)
                )
                times[name] = time.perf_counter() - began
                served = control(ports[0], "reset")
                kinds: dict[str, int] = {}
                for feed in report.feeds:
                    kind = feed.health.split(",")[0] if feed.ok else "failed"
                    if "unchanged since the last poll" in feed.health:
                        kind = "unchanged"
                    kinds[kind] = kinds.get(kind, 0) + 1
                health[name] = kinds
                print(
                    f"cycle {name:<13} {times[name]:7.2f} s  feeds {len(report.feeds)}  "
                    f"new articles {report.new_articles}  matches {report.matches}  "
                    f"requests {served['requests']} (304: {served['not_modified']})  {kinds}",
                    file=sys.stderr,
                )
            engine.dispose()
        stats = control(ports[0], "reset")
    finally:
        watch.stop()
        farm.stdin.close()
        farm.wait(timeout=30)
    result = {
        "feeds": args.feeds,
        "entries_per_feed": args.entries,
        "origins": origins,
        "delay_ms": args.delay_ms,
        "per_host_limit": args.per_host_limit,
        "new_s": round(times["new"], 3),
        "not_modified_s": round(times["not_modified"], 3),
        "unchanged_s": round(times["unchanged"], 3),
        "ratio_not_modified": round(times["not_modified"] / times["new"], 4),
        "ratio_unchanged": round(times["unchanged"] / times["new"], 4),
        "peak_rss_mb": round(
            max(vm_hwm_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), 1
        ),
        "parser_peak_rss_mb": round(watch.peak_mb, 1),
        "max_concurrent_per_host": stats["max_in_flight"],
        "outcomes": health,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
