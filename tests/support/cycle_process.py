"""One plain monitor cycle in its own process, started on a signal: two of these on one
SQLite file are a manual run during a scheduled one.

    python -m tests.support.cycle_process CONFIG DATABASE_URL READY_FILE GO_FILE DUE_ONLY

The modules are imported and the file READY_FILE written before it waits for GO_FILE, so
both processes reach the database at the same moment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from newswatch import cycle, store
from newswatch.config import load_config
from newswatch.models import utcnow


def main(config: str, url: str, ready: str, go: str, due_only: str) -> int:
    Path(ready).touch()
    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            print("no go signal within 60 s", file=sys.stderr)
            return 3
        time.sleep(0.005)
    engine = store.open_database(url)
    report = cycle.run_cycle(
        engine,
        load_config(Path(config), environ={}),
        environ={},
        now=utcnow(),
        due_only=due_only == "due",
    )
    engine.dispose()
    new = sum(f.new_articles for f in report.feeds)
    print(f"new={new} sent={report.delivery.sent} failed={report.delivery.failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
