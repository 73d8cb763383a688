"""Faults injected into a running `newswatch up` with a monitor run in flight (issue 16 item 6).

Each test cuts the run after it stored the Lammy story and before it sent the alert (a slow
feed holds it), injects one fault with a real signal to a real process, then checks what an
operator cares about: the cut run ends in a final state, the next run is not blocked by the
monitor's concurrency slot, and the story is alerted exactly once. docs/operations.md's fault
table names these tests.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.examples import serve_examples, write_config
from tests.support.feedserver import FeedServer
from tests.support.smtp import SmtpServer, free_port
from tests.support.up_stack import (
    LAMMY,
    QUICK,
    START_TIMEOUT_S,
    StartUp,
    Up,
    assert_completed,
    deliveries,
    flow_run,
    flow_run_process,
    monitor_runs,
    pause_schedule,
    pid_in_output,
    ready,
    start_next_scheduled_run,
    stop,
    trigger_monitor,
    up_environment,
    up_starter,
    wait_final,
    wait_for,
)

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(420)]

SLOW_FEED = "/continental-wire.xml"
WORKER_PID = r"worker '[^']+' polling pool 'newswatch' \(pid (\d+)\)"
SERVER_PID = r"Prefect server ready \(pid (\d+)\)"


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PREFECT_HOME for the module: only the first server start migrates it."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture
def newswatch_db(tmp_path: Path) -> Path:
    return tmp_path / "newswatch.db"


@pytest.fixture
def up_env(prefect_home: Path, newswatch_db: Path) -> dict[str, str]:
    return {**up_environment(prefect_home, f"sqlite:///{newswatch_db}"), **QUICK}


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    with up_starter(tmp_path) as start:
        yield start


@pytest.fixture
def up_args(feed_server: FeedServer, smtp_server: SmtpServer, tmp_path: Path) -> list[str]:
    serve_examples(feed_server)
    config = write_config(tmp_path, feed_server, smtp_server.channel_url())
    return ["--port", str(free_port()), "--config", str(config)]


def port_of(args: list[str]) -> int:
    return int(args[args.index("--port") + 1])


def run_in_flight(
    start_up: StartUp, args: list[str], env: dict[str, str], db: Path, feeds: FeedServer
) -> tuple[Up, dict[str, Any]]:
    """`up` with a monitor run that has stored the story and not yet sent its alert."""
    feeds.routes[SLOW_FEED].delay_s = 12
    port = port_of(args)
    up = start_up(args, env)
    up.wait_until(lambda: ready(up, port), START_TIMEOUT_S)
    run = start_next_scheduled_run(port)
    wait_for(lambda: deliveries(db), "stored alert")
    assert flow_run(port, run["id"])["state_type"] == "RUNNING"
    pause_schedule(port)  # from here on, only the runs the test starts
    return up, run


def next_run_alerts_once(port: int, feeds: FeedServer, smtp_server: SmtpServer) -> None:
    """A run by hand completes (no slot is held) and sends the cut run's alert, once."""
    feeds.routes[SLOW_FEED].delay_s = 0
    pause_schedule(port)  # a new `up` deployed the schedule again
    assert_completed(wait_final(port, trigger_monitor(port)))
    assert smtp_server.inbox.subjects() == [LAMMY]
    limited = [r for r in monitor_runs(port, "CANCELLED") if "concurrency" in str(r["state"])]
    assert limited == []


def test_worker_killed_mid_run_up_cancels_its_run_and_the_next_up_alerts_once(
    start_up: StartUp,
    up_args: list[str],
    up_env: dict[str, str],
    newswatch_db: Path,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
) -> None:
    up, cut = run_in_flight(start_up, up_args, up_env, newswatch_db, feed_server)
    os.killpg(pid_in_output(up, WORKER_PID), signal.SIGKILL)

    assert up.wait_exit() == 1
    output = up.output()
    assert "error: the worker exited unexpectedly (killed by SIGKILL)" in output
    assert smtp_server.inbox.subjects() == []

    port = port_of(up_args)
    again = start_up(up_args, up_env)
    again.wait_until(lambda: ready(again, port), START_TIMEOUT_S)
    ended = flow_run(port, cut["id"])
    assert ended["state_type"] in {"CANCELLED", "CRASHED"}, ended["state"]
    next_run_alerts_once(port, feed_server, smtp_server)
    stop(again)


def test_flow_run_process_killed_the_run_ends_crashed_and_the_next_run_alerts_once(
    start_up: StartUp,
    up_args: list[str],
    up_env: dict[str, str],
    newswatch_db: Path,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
) -> None:
    up, cut = run_in_flight(start_up, up_args, up_env, newswatch_db, feed_server)
    os.kill(flow_run_process(pid_in_output(up, WORKER_PID)), signal.SIGKILL)

    port = port_of(up_args)
    ended = wait_final(port, cut["id"])
    assert ended["state_type"] == "CRASHED", ended["state"]  # the worker saw its process die
    assert smtp_server.inbox.subjects() == []
    next_run_alerts_once(port, feed_server, smtp_server)
    stop(up)


def test_server_killed_mid_run_the_next_up_ends_the_stale_run_and_alerts_once(
    start_up: StartUp,
    up_args: list[str],
    up_env: dict[str, str],
    newswatch_db: Path,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
) -> None:
    """The server's concurrency-slot leases live in its memory: after a restart the run it
    never heard end would hold the monitor's slot for good."""
    up, cut = run_in_flight(start_up, up_args, up_env, newswatch_db, feed_server)
    os.killpg(pid_in_output(up, SERVER_PID), signal.SIGKILL)

    assert up.wait_exit() == 1
    output = up.output()
    assert "error: the Prefect server exited unexpectedly (killed by SIGKILL)" in output
    assert "the next start ends its runs" in output
    assert smtp_server.inbox.subjects() == []

    port = port_of(up_args)
    again = start_up(up_args, up_env)
    again.wait_until(lambda: ready(again, port), START_TIMEOUT_S)
    ended = flow_run(port, cut["id"])
    assert ended["state_type"] == "CRASHED", ended["state"]
    lines = [line for line in again.output().splitlines() if cut["id"] in line]
    assert lines == [
        f"newswatch up: crashed flow run '{cut['name']}' ({cut['id']}), left Running: "
        "its worker is gone (found by `newswatch up` at start)"
    ]
    next_run_alerts_once(port, feed_server, smtp_server)
    stop(again)
