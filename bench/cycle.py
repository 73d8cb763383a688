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
  plain_regex_html  the first plain cycle again, on a new database, with the regular
                    expression that newswatch.html_text replaced (bench/html_to_text.py keeps
                    it) as every process's HTML to text: ratio_plain_parser_to_regex is the
                    HTML5 parser's cycle over that one, ratio_plain_regex_to_floor its ratio

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
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cycle_farm import (  # noqa: E402  (bench/ is no package: its folder is on sys.path)
    config_text,
    feed_document,
    serve,
)

GUARD_RATIO: Final = 2.0
# A plain run with this environment turns HTML into text with the regular expression that
# newswatch.html_text replaced, and so do its digest workers: their forkserver, started
# first, imports bench/regex_html/regex_html_preload.py (with the modules the cycle preloads).
REGEX_HTML_ENV: Final = {
    "BENCH_CYCLE_HTML": "regex",
    "PYTHONPATH": str(ROOT / "bench" / "regex_html"),
}
REGEX_HTML_PRELOAD: Final = ("newswatch.steps.worker_start", "regex_html_preload")


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
    from connectors import start_forkserver
    from newswatch import cycle, store
    from newswatch.config import load_config

    regex = os.environ.get("BENCH_CYCLE_HTML") == "regex"
    if regex:
        import regex_html_preload  # noqa: F401  (swaps html_to_text in this process, on import)
    config = load_config(Path(args.config))
    engine = store.make_engine(args.db)
    began, cpu = time.perf_counter(), time.process_time()
    if regex:
        start_forkserver(REGEX_HTML_PRELOAD)  # timed, as the cycle's own start of it is
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
            regex_db = f"sqlite:///{tmp / 'regex.db'}"
            regex_env = {**env, **REGEX_HTML_ENV}
            regex = measure("plain", args, regex_env, config=str(config), db=regex_db)
            say(f"plain_regex_html  {regex['seconds']:8.2f} s  {regex}")
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
        "pipeline_plain_regex_html_s": round(regex["seconds"], 3),
        "ratio_plain_to_floor": ratio(plain["seconds"], floor["seconds"]),
        "ratio_prefect_to_plain": ratio(flow["seconds"], plain["seconds"]),
        "ratio_idle_to_plain": ratio(idle["seconds"], plain["seconds"]),
        "ratio_plain_parser_to_regex": ratio(plain["seconds"], regex["seconds"]),
        "ratio_plain_regex_to_floor": ratio(regex["seconds"], floor["seconds"]),
        "peak_rss_mb": {
            "parse_floor": floor["peak_rss_mb"],
            "pipeline_plain": plain["peak_rss_mb"],
            "idle": idle["peak_rss_mb"],
            "pipeline_prefect": flow["peak_rss_mb"],
            "plain_regex_html": regex["peak_rss_mb"],
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
            "plain_regex_html": regex["tree_cpu_s"],
        },
        "new_articles": plain["new_articles"],
        "matches": plain["matches"],
        "plain_regex_html": {"new_articles": regex["new_articles"], "matches": regex["matches"]},
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
