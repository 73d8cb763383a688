"""Crash trials in bulk: SIGKILL a monitor cycle many times at random points, recover, count.

Each trial picks a kill point in turn (see tests/support/crash_trials.py, which runs them) and,
for the delivery points, a random number of alerts sent before the kill. The suite runs one
trial per kill point; this runs many. Prints one JSON object on the last line:

    {"trials": 50, "killed": 50, "lost": 0, "duplicates": ..., "seed": 7, "elapsed_s": ...,
     "by_point": {"after-store-commit": {"trials": ..., "lost": 0, "duplicates": 0}, ...}}

A duplicate is only possible when the kill falls between a send and its mark (at most one a
trial); a lost alert is a bug.

    .venv/bin/python bench/crash_trials.py               # 50 trials
    .venv/bin/python bench/crash_trials.py --trials 8    # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.crash_trials import MATCHING, POINTS, peers, run_trial


def run_trials(trials: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    started = time.perf_counter()
    summary: dict[str, Any] = {"trials": trials, "killed": 0, "lost": 0, "duplicates": 0}
    by_point = {p: {"trials": 0, "lost": 0, "duplicates": 0} for p in POINTS}
    with peers() as (feeds, smtp):
        for n in range(trials):
            point = POINTS[n % len(POINTS)]
            trial = run_trial(feeds, smtp, point, rng.randrange(len(MATCHING)))
            summary["killed"] += trial.killed
            summary["lost"] += trial.lost
            summary["duplicates"] += trial.duplicates
            by_point[point]["trials"] += 1
            by_point[point]["lost"] += trial.lost
            by_point[point]["duplicates"] += trial.duplicates
    summary |= {"seed": seed, "elapsed_s": round(time.perf_counter() - started, 1)}
    summary["by_point"] = by_point
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run_trials(args.trials, args.seed)))


if __name__ == "__main__":
    main()
