"""`make demo`'s program, run as a user runs it: twice, in a fresh folder, through Prefect (the
session's server: a temporary one is tested in tests/test_run_cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.examples import EXAMPLES

pytestmark = pytest.mark.prefect

LAMMY = "Lammy visits Beijing as UK and China seek a reset"


def run_demo(cwd: Path, prefect_home: Path, api_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env["PREFECT_HOME"] = str(prefect_home)
    env["PREFECT_API_URL"] = api_url
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_demo_alerts_the_worked_example_once_then_nothing(
    tmp_path: Path, prefect_server_url: str
) -> None:
    first = run_demo(tmp_path, tmp_path / "prefect-home", prefect_server_url)
    second = run_demo(tmp_path, tmp_path / "prefect-home", prefect_server_url)

    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    for run in (first, second):
        assert "Traceback" not in run.stdout + run.stderr
    assert first.stdout.count("=== ALERT:") == 1
    assert f"=== ALERT: [UK–China visits] {LAMMY}" in first.stdout
    assert "Also reported by: Northern Ledger, Continental Wire" in first.stdout
    assert "feeds polled:  3 (0 failed)" in first.stdout
    assert "new articles:  28" in first.stdout
    assert "matches:       1" in first.stdout
    assert "alerts sent:   1" in first.stdout
    assert "=== ALERT:" not in second.stdout
    assert "alerts sent:   0" in second.stdout
    # A manual run polls every feed again; the unchanged ones answer 304.
    assert "feeds polled:  3 (0 failed)" in second.stdout
    assert "new articles:  0" in second.stdout
    assert (tmp_path / "data" / "demo" / "newswatch.db").exists()
    assert not (tmp_path / "data" / "newswatch.db").exists()  # the user's own, kept apart
