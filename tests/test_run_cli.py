"""`newswatch run` as cron, systemd or a shell script sees it: the console script against a
real feed server and a real SMTP server, output piped. The first test meets Prefect's temporary
server, as a user with no server running does; the others run on the session's server.

One exit code per outcome (README "Exit codes"): 0 all well, 3 some feeds failed, 4 an alert
that could not be sent; `--json` prints the run summary alone on stdout; piped, progress is
plain lines on stderr, and the wait for the temporary server is said in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.examples import serve_examples, write_config
from tests.support.feedserver import FeedServer, Route
from tests.support.smtp import SmtpServer, free_port

pytestmark = pytest.mark.prefect

CONSOLE_SCRIPT = Path(sys.executable).with_name("newswatch")
LAMMY = "Lammy visits Beijing as UK and China seek a reset"


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PREFECT_HOME for the module: its database is migrated once, not per run."""
    return tmp_path_factory.mktemp("prefect-home")


def run(
    cwd: Path, prefect_home: Path, *args: str, api_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`newswatch run`: on the server at `api_url`, or with none, on a temporary one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env["PREFECT_HOME"] = str(prefect_home)
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,  # piped, as under cron
        text=True,
        timeout=300,
        check=False,
    )


def test_all_well_exits_0_and_json_is_the_run_summary_alone(
    tmp_path: Path, prefect_home: Path, feed_server: FeedServer, smtp_server: SmtpServer
) -> None:
    serve_examples(feed_server)
    write_config(tmp_path, feed_server, smtp_server.channel_url())

    done = run(tmp_path, prefect_home, "--json")

    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["feeds_polled"] == 3
    assert summary["feeds_failed"] == 0
    assert summary["new_articles"] == 28
    assert summary["matches"] == 1
    assert summary["alerts_sent"] == 1
    assert [m["title"] for m in summary["new_matches"]] == [LAMMY]
    assert len(smtp_server.inbox.messages) == 1
    assert "Traceback" not in done.stderr
    # piped: progress as plain lines, the last one with the final counts
    progress = [line for line in done.stderr.splitlines() if line.startswith("progress: ")]
    assert progress[-1] == "progress: feeds 3/3 done, 28 new articles, 1 match, 1 alert sent"
    assert "\x1b[" not in done.stderr
    waits = [line for line in done.stderr.splitlines() if "temporary one" in line]
    assert waits == [
        "no Prefect server running: starting a temporary one for this run "
        "(10-40 s; `newswatch up` in another terminal keeps one running)"
    ]


def test_a_failing_feed_exits_3_and_names_it(
    tmp_path: Path,
    prefect_home: Path,
    prefect_server_url: str,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
) -> None:
    serve_examples(feed_server)
    feed_server.routes["/broken.xml"] = Route(body=b"oops", status=500)
    write_config(
        tmp_path, feed_server, smtp_server.channel_url(), extra_feeds={"/broken.xml": "Broken"}
    )

    done = run(tmp_path, prefect_home, api_url=prefect_server_url)

    assert done.returncode == 3, done.stderr[-3000:]
    assert "feeds polled:  4 (1 failed)" in done.stdout
    assert "feed problem:  Broken: " in done.stdout
    assert "alerts sent:   1 (failed: 0, gave up: 0, pending: 0)" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_an_alert_that_cannot_be_sent_exits_4(
    tmp_path: Path, prefect_home: Path, prefect_server_url: str, feed_server: FeedServer
) -> None:
    serve_examples(feed_server)
    nobody = free_port()  # nothing listens here
    write_config(tmp_path, feed_server, f"json://127.0.0.1:{nobody}/hook")

    done = run(tmp_path, prefect_home, api_url=prefect_server_url)

    assert done.returncode == 4, done.stderr[-3000:]
    assert "matches:       1" in done.stdout
    assert "alerts sent:   0 (failed: 1, gave up: 0, pending: 1)" in done.stdout
    assert "alert problem: " in done.stdout
    assert "Traceback" not in done.stdout + done.stderr

    # the next run finds nothing new and the alert not yet due again: it still waits, so 4
    again = run(tmp_path, prefect_home, api_url=prefect_server_url)

    assert again.returncode == 4, again.stderr[-3000:]
    assert "new articles:  0" in again.stdout
    assert "alerts waiting: 1 failed before; the next run retries them" in again.stdout
