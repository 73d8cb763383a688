"""Benchmark of the whole monitor cycle against parsing alone, side by side in one run.

N feeds of M news-length entries (a share of them news the rules look for) are served on
127.0.0.1 with R rules, and five things are measured, each in a process of its own so that
its peak memory is its own:

  parse_floor       feedparser.parse over every feed body, in one process, nothing else:
                    the least any feedparser-based pipeline can cost on one core
  pipeline_plain    one whole cycle without Prefect (cycle.run_cycle): fetch, parse,
                    normalise, dedupe, match, store to SQLite, deliver to a json:// receiver
  idle              a second plain cycle over the same feeds, in which nothing changed
  pipeline_prefect  the same first cycle through the `monitor` flow, against a Prefect server
                    that is already up (its start-up is timed apart: prefect_startup_s)

Peak RSS is the largest sum of resident memory over the measured process and everything it
started (forkserver, parser workers), sampled every 50 ms; the feed farm and the Prefect
server are not part of it (the server's own is `prefect_server_rss_mb`); `tree_cpu_s` is the
CPU that tree used, imports and start-up included. Prints a few human
lines on stderr, then one JSON object on the last line of stdout.

    .venv/bin/python bench/cycle.py                                  # 1,000 x 20, 1,000 rules
    .venv/bin/python bench/cycle.py --feeds 10000                    # the large run
    .venv/bin/python bench/cycle.py --feeds 20 --entries 5 --rules 50  # a quick look
    .venv/bin/python bench/cycle.py --big-feed 40000   # one feed of 40,000 short entries
    .venv/bin/python bench/cycle.py --guard            # CI's regression guard

`--big-feed N` measures one feed of N short entries (about 190 bytes each: 40,000 make
7.4 MiB, half the size cap): the plain cycle against that feed's own parse floor, and the
main process's peak RSS (`main_peak_rss_mb`, its VmHWM: the digest workers apart).

`--guard` is the only timing-based check in CI: a small run (100 feeds, under a minute:
the parse floor and one plain cycle, no Prefect) that prints its JSON and exits 1 when
`ratio_plain_to_floor` reaches GUARD_RATIO. The bound is generous for a noisy shared
machine and still catches a tenfold regression.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
GUARD_RATIO: Final = 2.0


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


# --- what each measured process runs (`cycle.py --run KIND`) ---------------------------------


def run_floor(args: argparse.Namespace) -> dict[str, float]:
    """feedparser over every body, as it comes (defaults), then as newswatch asks it."""
    import io

    import feedparser

    bodies = [
        feed_document(i, args.entries, args.rules, short=args.short) for i in range(args.feeds)
    ]
    began, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        feedparser.parse(io.BytesIO(body))
    floor, cpu = time.perf_counter() - began, time.process_time() - cpu
    began = time.perf_counter()
    for body in bodies:
        feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    floor_unsanitised = time.perf_counter() - began
    return {"seconds": floor, "cpu_s": cpu, "unsanitised_s": floor_unsanitised}


def run_first_parse(args: argparse.Namespace) -> dict[str, float]:
    """A fresh pool's first parse (forkserver and worker start-up included)."""
    from connectors.parser_pool import ParserPool

    body = feed_document(0, args.entries, args.rules)
    began = time.perf_counter()
    with ParserPool(workers=1) as pool:
        asyncio.run(pool.parse(body, url="http://127.0.0.1/feed/0.xml"))
        first = time.perf_counter() - began
    return {"seconds": first}


def run_plain(args: argparse.Namespace) -> dict[str, float]:
    from newswatch import cycle, store
    from newswatch.config import load_config

    config = load_config(Path(args.config))
    engine = store.make_engine(args.db)
    began, cpu = time.perf_counter(), time.process_time()
    report = cycle.run_cycle(engine, config, environ={}, now=datetime.now(UTC), due_only=False)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    engine.dispose()
    failed = [f"{f.url}: {f.health}" for f in report.feeds if not f.ok]
    if failed:
        print(f"{len(failed)} feeds failed, first: {failed[0]}", file=sys.stderr)
    return {
        "seconds": seconds,
        "main_cpu_s": cpu,  # this process, all its threads; the parser workers are apart
        "feeds": len(report.feeds),
        "new_articles": report.new_articles,
        "matches": report.matches,
        "sent": report.delivery.sent,
        "failed_feeds": len(failed),
        "main_peak_rss_mb": main_peak_rss_mb(),
    }


def main_peak_rss_mb() -> float:
    """This process's own high-water mark of resident memory (VmHWM), workers apart."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run_prefect(args: argparse.Namespace) -> dict[str, float]:
    from flows.monitor import monitor

    began, cpu = time.perf_counter(), time.process_time()
    report = monitor(config_path=args.config, due_only=False)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {
        "seconds": seconds,
        "main_cpu_s": cpu,
        "feeds": len(report.feeds),
        "new_articles": report.new_articles,
        "matches": report.matches,
        "sent": report.delivery.sent,
        "failed_feeds": sum(1 for f in report.feeds if not f.ok),
    }


RUNS: Final = {
    "floor": run_floor,
    "first-parse": run_first_parse,
    "plain": run_plain,
    "prefect": run_prefect,
}


# --- the benchmark -----------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(root: int) -> list[int]:
    """`root` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    mine = {root}
    grew = True
    while grew:
        before = len(mine)
        mine |= {pid for pid, parent in parents.items() if parent in mine}
        grew = len(mine) > before
    return sorted(mine)


def cpu_s(pid: int) -> float:
    """User and system CPU a process has used so far, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TreeWatch(threading.Thread):
    """The peak of the summed resident memory of a process and its descendants, and the CPU
    they used (the last reading of each: a CPU figure that a loaded machine shifts less
    than the clock)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_mb = 0.0
        self.cpu: dict[int, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            pids = tree(self.root)
            self.peak_mb = max(self.peak_mb, sum(rss_kb(pid) for pid in pids) / 1024)
            for pid in pids:
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu_s(pid))

    def stop(self) -> tuple[float, float]:
        self._halt.set()
        self.join()
        return self.peak_mb, sum(self.cpu.values())


def measure(
    kind: str, args: argparse.Namespace, env: dict[str, str], **extra: str
) -> dict[str, Any]:
    """Run one measurement in a child process; its figures, with the tree's peak RSS."""
    command = [sys.executable, __file__, "--run", kind, "--feeds", str(args.feeds)]
    command += ["--entries", str(args.entries), "--rules", str(args.rules)]
    command += ["--short"] if args.short else []
    for key, value in extra.items():
        command += [f"--{key}", value]
    child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    watch = TreeWatch(child.pid)
    watch.start()
    out, _ = child.communicate()
    peak, cpu = watch.stop()
    if child.returncode != 0:
        raise SystemExit(f"the {kind} run failed (exit {child.returncode})")
    figures: dict[str, Any] = json.loads(out.splitlines()[-1])
    figures["peak_rss_mb"] = round(peak, 1)
    figures["tree_cpu_s"] = round(cpu, 2)  # the whole child: start-up and imports included
    return figures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def prefect_server(home: Path, env: dict[str, str]) -> Any:
    """`prefect server start` on a free port; yields (api_url, start-up seconds, pid)."""
    port = free_port()
    prefect = str(Path(sys.executable).parent / "prefect")
    began = time.perf_counter()
    with open(home / "server.log", "wb") as log:
        server = subprocess.Popen(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 240
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{api}/health", timeout=2) as answer,  # noqa: S310  (our own http:// URL)
            ):
                if answer.status == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"prefect server did not start: see {home / 'server.log'}")
            time.sleep(0.1)
        yield api, time.perf_counter() - began, server.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()


def short_result(args: argparse.Namespace, floor: dict[str, Any], plain: dict[str, Any]) -> int:
    """The guard's or the big feed's JSON: the floor and one plain cycle, side by side."""
    ratio = round(plain["seconds"] / floor["seconds"], 3) if floor["seconds"] else 0.0
    result = {
        "mode": "guard" if args.guard else "big-feed",
        "feeds": args.feeds,
        "entries": args.entries,
        "rules": args.rules,
        "cores": len(os.sched_getaffinity(0)),
        "parse_floor_s": round(floor["seconds"], 3),
        "parse_floor_unsanitised_s": round(floor["unsanitised_s"], 3),
        "pipeline_plain_s": round(plain["seconds"], 3),
        "ratio_plain_to_floor": ratio,
        "main_peak_rss_mb": plain["main_peak_rss_mb"],
        "peak_rss_mb": {
            "parse_floor": floor["peak_rss_mb"],
            "pipeline_plain": plain["peak_rss_mb"],
        },
        "new_articles": plain["new_articles"],
        "matches": plain["matches"],
        "failed_feeds": plain["failed_feeds"],
    }
    if args.guard:
        result["guard_ratio"] = GUARD_RATIO
    print(json.dumps(result))
    if args.guard and ratio >= GUARD_RATIO:
        print(
            f"ratio_plain_to_floor {ratio} >= {GUARD_RATIO}: the cycle regressed", file=sys.stderr
        )
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=20, help="entries per feed")
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--origins", type=int, default=0, help="servers (default: feeds / 20)")
    parser.add_argument("--big-feed", type=int, default=0, metavar="N", help="one feed of N")
    parser.add_argument("--guard", action="store_true", help="CI's small ratio check")
    parser.add_argument("--short", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", choices=sorted(RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.guard:
        args.feeds, args.entries, args.rules = 100, 20, 100
    if args.big_feed:
        args.feeds, args.entries, args.short = 1, args.big_feed, True
    origins = args.origins or min(500, max(1, args.feeds // 20))
    if args.serve:
        asyncio.run(serve(args.feeds, args.entries, args.rules, origins, args.short))
        return 0
    if args.run:
        print(json.dumps(RUNS[args.run](args)))
        return 0

    from flows.prefect_defaults import QUIET_PREFECT_DEFAULTS

    farm = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--feeds", str(args.feeds), "--entries",
         str(args.entries), "--rules", str(args.rules), "--origins", str(origins),
         *(["--short"] if args.short else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert farm.stdin is not None
    assert farm.stdout is not None
    try:
        served = json.loads(farm.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="newswatch-bench-cycle-") as tmp_name:
            tmp = Path(tmp_name)
            config = tmp / "newswatch.yaml"
            config.write_text(config_text(served["ports"], served["hook"], args.feeds, args.rules))
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))
            }
            env.update(QUIET_PREFECT_DEFAULTS, PREFECT_HOME=str(tmp / "prefect"))
            env.update(PREFECT_LOGGING_LEVEL="WARNING", NEWSWATCH_CONFIG=str(config))
            (tmp / "prefect").mkdir()

            def say(line: str) -> None:
                print(line, file=sys.stderr, flush=True)

            floor = measure("floor", args, env)
            say(f"parse_floor       {floor['seconds']:8.2f} s  peak {floor['peak_rss_mb']} MB")
            if args.guard or args.big_feed:
                plain = measure(
                    "plain", args, env, config=str(config), db=f"sqlite:///{tmp / 'p.db'}"
                )
                say(f"pipeline_plain    {plain['seconds']:8.2f} s  {plain}")
                return short_result(args, floor, plain)
            first = measure("first-parse", args, env)
            plain_db = f"sqlite:///{tmp / 'plain.db'}"
            plain = measure("plain", args, env, config=str(config), db=plain_db)
            say(f"pipeline_plain    {plain['seconds']:8.2f} s  {plain}")
            idle = measure("plain", args, env, config=str(config), db=plain_db)
            say(f"idle              {idle['seconds']:8.2f} s  {idle}")
            with prefect_server(tmp / "prefect", env) as (api, startup_s, server_pid):
                say(f"prefect start-up  {startup_s:8.2f} s")
                flow_env = {**env, "PREFECT_API_URL": api}
                flow_env["NEWSWATCH_DATABASE_URL"] = f"sqlite:///{tmp / 'prefect.db'}"
                flow = measure("prefect", args, flow_env, config=str(config))
                server_mb = sum(rss_kb(pid) for pid in tree(server_pid)) / 1024
            say(f"pipeline_prefect  {flow['seconds']:8.2f} s  {flow}")
    finally:
        farm.stdin.close()
        farm.wait(timeout=60)

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3) if b else 0.0

    result = {
        "feeds": args.feeds,
        "entries": args.entries,
        "rules": args.rules,
        "origins": origins,
        "cores": len(os.sched_getaffinity(0)),
        "parse_floor_s": round(floor["seconds"], 3),
        "parse_floor_unsanitised_s": round(floor["unsanitised_s"], 3),
        "first_parse_s": round(first["seconds"], 3),
        "pipeline_plain_s": round(plain["seconds"], 3),
        "pipeline_prefect_s": round(flow["seconds"], 3),
        "prefect_startup_s": round(startup_s, 3),
        "idle_s": round(idle["seconds"], 3),
        "ratio_plain_to_floor": ratio(plain["seconds"], floor["seconds"]),
        "ratio_prefect_to_plain": ratio(flow["seconds"], plain["seconds"]),
        "ratio_idle_to_plain": ratio(idle["seconds"], plain["seconds"]),
        "peak_rss_mb": {
            "parse_floor": floor["peak_rss_mb"],
            "pipeline_plain": plain["peak_rss_mb"],
            "idle": idle["peak_rss_mb"],
            "pipeline_prefect": flow["peak_rss_mb"],
        },
        "prefect_server_rss_mb": round(server_mb, 1),
        "cpu_s": {
            "parse_floor": round(floor["cpu_s"], 3),
            "pipeline_plain_main": round(plain["main_cpu_s"], 3),
            "idle_main": round(idle["main_cpu_s"], 3),
            "pipeline_prefect_main": round(flow["main_cpu_s"], 3),
        },
        "tree_cpu_s": {
            "parse_floor": floor["tree_cpu_s"],
            "pipeline_plain": plain["tree_cpu_s"],
            "idle": idle["tree_cpu_s"],
            "pipeline_prefect": flow["tree_cpu_s"],
        },
        "new_articles": plain["new_articles"],
        "matches": plain["matches"],
        "alerts_sent": {"pipeline_plain": plain["sent"], "pipeline_prefect": flow["sent"]},
        "failed_feeds": {
            "pipeline_plain": plain["failed_feeds"],
            "idle": idle["failed_feeds"],
            "pipeline_prefect": flow["failed_feeds"],
        },
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
