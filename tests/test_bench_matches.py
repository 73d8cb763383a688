"""`bench/matches.py` in a small run: the JSON contract, figures that add up, and the plan.

Speed is not asserted here (the machine is shared and noisy); the bench exists to measure it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "matches.py"


def test_a_small_run_prints_every_figure_and_the_plan_as_json() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--articles", "3000", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    figures = json.loads(done.stdout)
    assert figures["articles"] == 3000
    assert figures["matches"] == 300
    assert set(figures["searches"]) == {"rare", "common", "absent"}
    assert all(spread["min"] > 0 for spread in figures["seconds"].values())
    # the word index and the scan it replaces find the same matches
    for name in figures["searches"]:
        assert figures["rows"][f"query_search_{name}"] == figures["rows"][f"query_like_scan_{name}"]
        assert figures["rows"][f"cli_search_{name}"] == figures["rows"][f"query_search_{name}"]
    assert figures["rows"]["query_search_absent"] == 0
    assert figures["rows"]["cli_list"] == 20
    assert any("VIRTUAL TABLE INDEX" in step for step in figures["plan"]["rare"])
    seconds = figures["seconds"]
    ratio = seconds["cli_search_rare"]["median"] / seconds["cli_list"]["median"]
    assert abs(figures["search_over_list"]["rare"] - ratio) < 0.01
