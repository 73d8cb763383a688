"""How long the `newswatch` console script takes before it answers, as a user's shell runs it.

Each command runs `--repeat` times, interleaved with the references (a bare interpreter, and
one that imports what the commands defer: Prefect, Apprise, SQLModel, the pipeline), so the
ratios compare runs of the same moment on a shared machine. Prints one JSON object:

    {"repeat": 10, "targets_s": {"help": 0.3, "rules_test_query": 1.0},
     "seconds": {"help": {"min": ..., "median": ...}, "rules_test_query": {...},
                 "python": {...}, "eager_imports": {...}},
     "within_target": {"help": true, "rules_test_query": true},
     "help_vs_eager_imports": ..., "help_over_python": ...}

    .venv/bin/python bench/cli.py              # 10 runs of each
    .venv/bin/python bench/cli.py --repeat 3   # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONSOLE_SCRIPT = Path(sys.executable).with_name("newswatch")
QUERY = ["--query", "UK AND visit", "--text", "UK minister visits Japan"]
EAGER = "import flows.monitor, newswatch.notify, newswatch.cycle, newswatch.store"
COMMANDS: dict[str, list[str]] = {
    "help": [str(CONSOLE_SCRIPT), "--help"],
    "rules_test_query": [str(CONSOLE_SCRIPT), "rules", "test", *QUERY],
    "python": [sys.executable, "-c", "pass"],
    "eager_imports": [sys.executable, "-c", EAGER],
}
TARGETS_S = {"help": 0.3, "rules_test_query": 1.0}


def time_once(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - started


def measure(repeat: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)  # no config, no data: what a first command meets
        for argv in COMMANDS.values():  # one warm-up each: the page cache, .pyc files
            time_once(argv, cwd)
        for _ in range(repeat):
            for name, argv in COMMANDS.items():
                times[name].append(time_once(argv, cwd))
    seconds = {
        name: {"min": round(min(ts), 3), "median": round(statistics.median(ts), 3)}
        for name, ts in times.items()
    }
    return {
        "repeat": repeat,
        "targets_s": TARGETS_S,
        "seconds": seconds,
        "within_target": {
            name: seconds[name]["median"] < target for name, target in TARGETS_S.items()
        },
        "help_vs_eager_imports": round(
            seconds["help"]["median"] / seconds["eager_imports"]["median"], 3
        ),
        "help_over_python": round(seconds["help"]["median"] / seconds["python"]["median"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(measure(args.repeat)))


if __name__ == "__main__":
    main()
