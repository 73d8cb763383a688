"""Keep one CPU core busy, so the suite can be shown to hold on a loaded machine (issue 24).

    python bench/burn_core.py --minutes 30 &   # prints {"pid": ..., "minutes": ...}
    ... run the suite ...
    kill <pid>

One process, one core: a tight arithmetic loop that never sleeps or does I/O. It stops by
itself after --minutes, so a forgotten one cannot load a shared machine for ever.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def burn(seconds: float) -> int:
    """Spin until `seconds` have passed; the number of rounds, so the loop is not dead code."""
    deadline = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < deadline:
        for _ in range(100_000):
            rounds += 1
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=30.0, help="stop after this long (default 30)"
    )
    minutes = parser.parse_args().minutes
    print(json.dumps({"pid": os.getpid(), "minutes": minutes}), flush=True)
    rounds = burn(minutes * 60.0)
    print(json.dumps({"pid": os.getpid(), "rounds": rounds}), file=sys.stderr)


if __name__ == "__main__":
    main()
