"""`bench/cycle.py` in a small run: every figure of the JSON contract on the last line, and
the cycles it times really polled, stored and alerted.

Speed is not asserted here (the machine is shared and noisy); the bench exists to measure it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "cycle.py"
HALF_MS = 0.0005  # the most a figure rounded to 3 decimals moved


def test_a_small_run_prints_every_figure_as_json_on_the_last_line() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--feeds", "20", "--entries", "5", "--rules", "50"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    assert (figures["feeds"], figures["entries"], figures["rules"]) == (20, 5, 50)
    for key in ("parse_floor_s", "pipeline_plain_s", "pipeline_prefect_s", "prefect_startup_s"):
        assert figures[key] > 0, key
    assert figures["idle_s"] > 0
    assert figures["pipeline_plain_regex_html_s"] > 0
    for ratio, (top, bottom) in {
        "ratio_plain_to_floor": ("pipeline_plain_s", "parse_floor_s"),
        "ratio_prefect_to_plain": ("pipeline_prefect_s", "pipeline_plain_s"),
        "ratio_idle_to_plain": ("idle_s", "pipeline_plain_s"),
        "ratio_plain_parser_to_regex": ("pipeline_plain_s", "pipeline_plain_regex_html_s"),
        "ratio_plain_regex_to_floor": ("pipeline_plain_regex_html_s", "parse_floor_s"),
    }.items():
        # The ratio is of the unrounded seconds; the figures are rounded to 3 decimals, so a
        # bottom of a few milliseconds moves their quotient by a tenth. The ratio lies
        # between the quotients of the figures' unrounded ends, and is itself rounded.
        top_s, bottom_s = figures[top], figures[bottom]
        low = (top_s - HALF_MS) / (bottom_s + HALF_MS) - HALF_MS
        high = (top_s + HALF_MS) / (bottom_s - HALF_MS) + HALF_MS
        assert low <= figures[ratio] <= high, (ratio, figures[ratio], top_s, bottom_s)
    peaks = figures["peak_rss_mb"]
    assert set(peaks) == {
        "parse_floor",
        "pipeline_plain",
        "idle",
        "pipeline_prefect",
        "plain_regex_html",
    }
    # the cycle's tree (monitor, forkserver, workers) holds more than feedparser alone
    assert peaks["pipeline_plain"] > peaks["parse_floor"] > 0
    # what was timed is the real work: every entry stored, the matches alerted, twice over
    assert figures["new_articles"] == 100
    assert figures["matches"] > 0
    assert figures["alerts_sent"] == {
        "pipeline_plain": figures["matches"],
        "pipeline_prefect": figures["matches"],
    }
    assert figures["failed_feeds"] == {"pipeline_plain": 0, "idle": 0, "pipeline_prefect": 0}
    # the regular expression's cycle did the same work: the same articles, the same matches
    assert figures["plain_regex_html"] == {"new_articles": 100, "matches": figures["matches"]}


# What a digest worker of the regex run turns HTML into text with, asked in the worker.
IN_A_WORKER = """
import asyncio, os
from connectors import ParserPool, start_forkserver

start_forkserver(tuple(os.environ["PRELOAD"].split(",")))
QUESTION = b"__import__('newswatch.normalize').normalize.html_to_text.__module__"


async def ask() -> str:
    with ParserPool(workers=1) as pool:
        return await pool.run(eval, QUESTION)

print(asyncio.run(ask()))
"""


def test_the_regex_run_digests_with_the_regex_in_its_workers() -> None:
    """The plain_regex_html run measures the regular expression only if the workers, which
    never re-run the bench's __main__, use it: their forkserver's preload swaps it in."""
    sys.path.insert(0, str(BENCH.parent))
    try:
        import cycle as bench_cycle  # bench/cycle.py
    finally:
        sys.path.remove(str(BENCH.parent))
    env = {**os.environ, **bench_cycle.REGEX_HTML_ENV}
    env["PRELOAD"] = ",".join(bench_cycle.REGEX_HTML_PRELOAD)
    done = subprocess.run(
        [sys.executable, "-c", IN_A_WORKER],
        env=env,
        cwd=BENCH.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["html_to_text"]  # bench/html_to_text.py, not newswatch's
    env["PRELOAD"] = "newswatch.steps.worker_start"  # a plain run's workers
    done = subprocess.run(
        [sys.executable, "-c", IN_A_WORKER],
        env={k: v for k, v in env.items() if k != "BENCH_CYCLE_HTML"},
        cwd=BENCH.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["newswatch.html_text"]
