"""`bench/cycle.py` in a small run: every figure of the JSON contract on the last line, and
the cycles it times really polled, stored and alerted.

Speed is not asserted here (the machine is shared and noisy); the bench exists to measure it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "cycle.py"


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
    for ratio, (top, bottom) in {
        "ratio_plain_to_floor": ("pipeline_plain_s", "parse_floor_s"),
        "ratio_prefect_to_plain": ("pipeline_prefect_s", "pipeline_plain_s"),
        "ratio_idle_to_plain": ("idle_s", "pipeline_plain_s"),
    }.items():
        expected = figures[top] / figures[bottom]
        assert abs(figures[ratio] - expected) <= 0.01 * expected + 0.002, ratio
    peaks = figures["peak_rss_mb"]
    assert set(peaks) == {"parse_floor", "pipeline_plain", "idle", "pipeline_prefect"}
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
