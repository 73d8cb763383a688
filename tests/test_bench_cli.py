"""`bench/cli.py` in a small run: the JSON contract, and figures that add up.

Speed is not asserted here (the machine is shared and noisy); the bench exists to measure it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "cli.py"


def test_a_small_run_prints_every_figure_as_json() -> None:
    # once each after the warm-up: every figure is there, and each run of a command is a
    # whole interpreter start-up (half a CPU-second)
    done = subprocess.run(
        [sys.executable, str(BENCH), "--repeat", "1"], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    figures = json.loads(done.stdout)
    assert figures["repeat"] == 1
    assert set(figures["seconds"]) == {"help", "rules_test_query", "python", "eager_imports"}
    for name, spread in figures["seconds"].items():
        assert 0 < spread["min"] <= spread["median"], name
    assert (
        set(figures["within_target"]) == set(figures["targets_s"]) == {"help", "rules_test_query"}
    )
    assert all(isinstance(v, bool) for v in figures["within_target"].values())
    # the ratios are of the figures printed beside them
    seconds = figures["seconds"]
    ratio = seconds["help"]["median"] / seconds["eager_imports"]["median"]
    assert abs(figures["help_vs_eager_imports"] - ratio) < 0.01
