"""`bench/crash_trials.py` in a small run: the JSON summary on the last line adds up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "crash_trials.py"


def test_a_small_run_prints_its_summary_as_json_on_the_last_line() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--trials", "2", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert (summary["trials"], summary["killed"], summary["lost"], summary["seed"]) == (2, 2, 0, 3)
    assert sum(p["trials"] for p in summary["by_point"].values()) == 2
    assert summary["duplicates"] == sum(p["duplicates"] for p in summary["by_point"].values())
