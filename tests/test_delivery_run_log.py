"""A failed delivery is a WARNING line in the Prefect run's own log (what the UI shows),
secrets redacted: `newswatch run` through a real (temporary) Prefect server, SMTP down."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support.examples import serve_examples, write_config
from tests.support.feedserver import FeedServer
from tests.support.smtp import free_port

SECRET = "hunter2-run-log"  # noqa: S105 (a fake credential that must never show)


def test_a_failed_alert_is_a_warning_line_in_the_run_log(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    serve_examples(feed_server)
    port = free_port()  # nothing listens: the mail server is down
    write_config(
        tmp_path,
        feed_server,
        f"mailto://alerts:${{SMTP_PASSWORD}}@127.0.0.1:{port}?from=nw@example.org&to=d@example.org",
    )
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env |= {
        "PREFECT_HOME": str(home),
        "SMTP_PASSWORD": SECRET,
        "NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'newswatch.db'}",
    }

    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "-c", "newswatch.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert "alerts sent:   0 (failed: 1" in done.stdout, done.stderr
    # The temporary server is gone; the run's log stays in its database.
    with sqlite3.connect(home / "prefect.db") as db:
        warnings = db.execute(
            "SELECT name, message FROM log WHERE level = 30 AND name LIKE 'newswatch%'"
        ).fetchall()
        everything = " ".join(m for (m,) in db.execute("SELECT message FROM log"))
    assert [name for name, _ in warnings] == ["newswatch.notify.outbox"]
    assert warnings[0][1].startswith("alert to channel 'desk-email' failed (attempt 1 of 8")
    assert SECRET not in everything + done.stdout + done.stderr
