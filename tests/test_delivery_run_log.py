"""A failed delivery is a WARNING line in the Prefect run's own log (what the UI shows),
secrets redacted: `newswatch run` on the session's Prefect server, SMTP down."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.examples import serve_examples, write_config
from tests.support.feedserver import FeedServer
from tests.support.smtp import free_port

SECRET = "hunter2-run-log"  # noqa: S105 (a fake credential that must never show)


def run_logs(api_url: str, since: datetime) -> list[dict[str, Any]]:
    """Every log line of the flow runs started since `since`, as the UI reads them."""
    with httpx.Client(base_url=api_url, timeout=30.0) as api:
        runs = api.post(
            "/flow_runs/filter",
            json={"flow_runs": {"start_time": {"after_": since.isoformat()}}},
        )
        runs.raise_for_status()
        ids = [run["id"] for run in runs.json()]
        assert ids, "no flow run started"
        logs = api.post(
            "/logs/filter",
            json={"logs": {"flow_run_id": {"any_": ids}}, "sort": "TIMESTAMP_ASC"},
        )
        logs.raise_for_status()
        found: list[dict[str, Any]] = logs.json()
        return found


def test_a_failed_alert_is_a_warning_line_in_the_run_log(
    feed_server: FeedServer, tmp_path: Path, prefect_server_url: str
) -> None:
    serve_examples(feed_server)
    port = free_port()  # nothing listens: the mail server is down
    write_config(
        tmp_path,
        feed_server,
        f"mailto://alerts:${{SMTP_PASSWORD}}@127.0.0.1:{port}?from=nw@example.org&to=d@example.org",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": prefect_server_url,
        "SMTP_PASSWORD": SECRET,
        "NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'newswatch.db'}",
    }
    started = datetime.now(UTC)

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
    logs = run_logs(prefect_server_url, started)
    warnings = [log for log in logs if log["level"] == 30 and log["name"].startswith("newswatch")]
    everything = " ".join(log["message"] for log in logs)
    assert [log["name"] for log in warnings] == ["newswatch.notify.outbox"]
    assert warnings[0]["message"].startswith("alert to channel 'desk-email' failed (attempt 1 of 8")
    assert SECRET not in everything + done.stdout + done.stderr
