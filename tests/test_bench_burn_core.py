"""`bench/burn_core.py`, the load for the suite's loaded runs: it says its pid, keeps a core
busy, and stops by itself when its minutes are up (a forgotten one cannot load the machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "burn_core.py"


def test_it_prints_its_pid_and_stops_by_itself() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--minutes", "0.01"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    started = json.loads(done.stdout.splitlines()[0])
    assert started == {"pid": started["pid"], "minutes": 0.01}
    assert started["pid"] > 0
    assert json.loads(done.stderr)["rounds"] > 0  # it worked, it did not sleep
