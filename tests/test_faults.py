"""`newswatch up` stopped, killed and started again with a monitor run in flight, as operators
meet it (issue 16 items 1, 2 and 6; issue 15 item 1). docs/operations.md's fault table names
these tests.

Each cut run has stored the Lammy story and not yet sent its alert (a slow feed holds it). What
an operator cares about is checked with real processes and real signals: the cut run ends in a
final state, the next runs are not blocked by the monitor's one concurrency slot, the story is
alerted exactly once, restarts keep the schedule's times, and the README's trigger commands work
verbatim from a second terminal.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.examples import serve_examples, write_config
from tests.support.feedserver import FeedServer
from tests.support.smtp import SmtpServer, free_port
from tests.support.up_stack import (
    LAMMY,
    NEWSWATCH,
    QUICK,
    ROOT,
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
    post,
    ready,
    scheduled_times,
    start_next_scheduled_run,
    stop,
    trigger_monitor,
    up_environment,
    up_starter,
    wait_final,
    wait_for,
)

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(480)]

SLOW_FEED = "/continental-wire.xml"
WORKER_PID = r"worker '[^']+' polling pool 'newswatch' \(pid (\d+)\)"
SERVER_PID = r"Prefect server ready \(pid (\d+)\)"
ENVOY = "[UK-China visits] UK envoy to visit China again in spring"
ENVOY_ITEM = (
    "<item><title>UK envoy to visit China again in spring</title>"
    "<link>https://harbourgazette.example/world/2024/10/19/envoy</link>"
    "<guid>hg-envoy</guid><description>Plans for a return trip.</description></item>\n"
)


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
def config(feed_server: FeedServer, smtp_server: SmtpServer, tmp_path: Path) -> Path:
    serve_examples(feed_server)
    return write_config(tmp_path, feed_server, smtp_server.channel_url())


@pytest.fixture
def up_args(config: Path) -> list[str]:
    return ["--port", str(free_port()), "--config", str(config)]


def port_of(args: list[str]) -> int:
    return int(args[args.index("--port") + 1])


def start_ready(start_up: StartUp, args: list[str], env: dict[str, str]) -> Up:
    """`newswatch up`, once its deployments exist and its worker is online."""
    up = start_up(args, env)
    up.wait_until(lambda: ready(up, port_of(args)), START_TIMEOUT_S)
    return up


def run_in_flight(
    start_up: StartUp, args: list[str], env: dict[str, str], db: Path, feeds: FeedServer
) -> tuple[Up, dict[str, Any]]:
    """`up` with a monitor run in flight that has stored the story.

    Its alert may have gone out already: alerts leave during the batch, while the slow feed
    is still being fetched. Either way the story must reach the desk once. The slow feed
    answers only when the test lets it (`let_the_slow_feed_answer`), so the run is still in
    flight however long the machine takes to get there.
    """
    feeds.routes[SLOW_FEED].hold = threading.Event()
    up = start_ready(start_up, args, env)
    port = port_of(args)
    run = start_next_scheduled_run(port)
    wait_for(lambda: deliveries(db), "stored alert")
    assert flow_run(port, run["id"])["state_type"] == "RUNNING"
    return up, run


def let_the_slow_feed_answer(feeds: FeedServer) -> None:
    hold = feeds.routes[SLOW_FEED].hold
    if hold is not None:
        hold.set()


def next_run_alerts_once(port: int, feeds: FeedServer, smtp_server: SmtpServer) -> None:
    """A run by hand completes (no slot is held) and sends the cut run's alert, once."""
    let_the_slow_feed_answer(feeds)
    pause_schedule(port)  # only the runs the test starts from here on
    assert_completed(wait_final(port, trigger_monitor(port)))
    assert smtp_server.inbox.subjects() == [LAMMY]
    messages = [str(r["state"]["message"]) for r in monitor_runs(port, "CANCELLED")]
    assert [m for m in messages if "concurrency limit" in m] == []


# ---------------------------------------------------------------- the README, run verbatim


def readme_trigger_commands() -> list[str]:
    """The commands of the README block that follows 'from a second terminal'."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("Run a deployment by hand from a second terminal")
    block = re.search(r"```sh\n(.*?)```", readme[start:], re.S)
    assert block is not None
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def second_terminal(prefect_home: Path) -> dict[str, str]:
    """A new terminal of the same user in the checkout: no venv on PATH (the README's lines
    name `.venv/bin/` themselves), no PREFECT_API_URL exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env["PREFECT_HOME"] = str(prefect_home)
    venv_bin = str(NEWSWATCH.parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.pop("VIRTUAL_ENV", None)
    return env


def run_in_second_terminal(command: str, env: dict[str, str]) -> str:
    """One README line through a shell; the id of the flow run it created."""
    result = subprocess.run(  # noqa: S602 - the README's line, verbatim, as a user types it
        command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"$ {command}\n{output}"
    assert "Starting temporary server" not in output, output
    found = re.search(r"UUID: ([0-9a-f-]{36})", output)
    assert found, f"$ {command}\n{output}"
    return found.group(1)


# ---------------------------------------------------------------- `up` stopped, and restarted


def test_a_run_cut_by_stopping_up_blocks_nothing_and_its_alert_goes_out_once(
    start_up: StartUp,
    up_args: list[str],
    up_env: dict[str, str],
    prefect_home: Path,
    newswatch_db: Path,
    config: Path,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    """Issue 16 item 1: Ctrl-C to `up` mid-run left the run Running, holding the monitor's one
    concurrency slot, and every later run was Cancelled. Issue 15 item 1: the README's manual
    run polled 0 feeds, and without PREFECT_API_URL started a temporary server."""
    up, cut = run_in_flight(start_up, up_args, up_env, newswatch_db, feed_server)
    output = stop(up)

    assert f"newswatch up: cancelled flow run '{cut['name']}'" in output, output
    assert smtp_server.inbox.subjects() in ([], [LAMMY])  # sent by the cut run, or not yet

    let_the_slow_feed_answer(feed_server)
    up = start_ready(start_up, up_args, up_env)
    port = port_of(up_args)
    ended = flow_run(port, cut["id"])
    assert ended["state_type"] == "CANCELLED", ended["state"]
    assert "`newswatch up` stopped while it ran" in ended["state"]["message"]

    scheduled = wait_final(port, start_next_scheduled_run(port)["id"])
    assert_completed(scheduled)
    assert scheduled["parameters"]["due_only"] is True
    assert smtp_server.inbox.subjects() == [LAMMY]  # the cut run's alert, once
    pause_schedule(port)

    # A new story in a feed that is not due: a run by hand must still find it.
    gazette = feed_server.routes["/harbour-gazette.xml"]
    gazette.body = gazette.body.replace(b"<item>", ENVOY_ITEM.encode("utf-8") + b"<item>", 1)
    terminal = second_terminal(prefect_home)
    commands = readme_trigger_commands()
    assert commands[0] == ".venv/bin/prefect deployment run 'monitor/monitor'"
    for command in commands:
        run = wait_final(port, run_in_second_terminal(command, terminal))
        assert_completed(run)
        if command == commands[0]:
            assert smtp_server.inbox.subjects() == [LAMMY, ENVOY]
    assert smtp_server.inbox.subjects() == [LAMMY, ENVOY]  # each story alerted once
    cancelled = [r for r in monitor_runs(port, "CANCELLED") if r["id"] != cut["id"]]
    assert [r["state"]["message"] for r in cancelled] == []

    # `newswatch run` in that terminal runs on up's server, not on a temporary one.
    terminal["NEWSWATCH_DATABASE_URL"] = f"sqlite:///{newswatch_db}"
    result = subprocess.run(
        [str(NEWSWATCH), "run", "--config", str(config)],
        cwd=tmp_path,
        env=terminal,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Starting temporary server" not in result.stdout + result.stderr
    by_hand = post(port, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"is_null_": True}}})
    ours = [r["state_type"] for r in by_hand if r["parameters"]["config_path"] == str(config)]
    assert ours == ["COMPLETED"]
    assert smtp_server.inbox.subjects() == [LAMMY, ENVOY]
    stop(up)


STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGTERM)  # systemd's stop, Ctrl-C, systemd's


def next_time_after_a_start(
    start_up: StartUp, args: list[str], env: dict[str, str], signum: int
) -> datetime:
    """Start `up`, read when the schedule's next monitor run starts, stop `up` with signum."""
    up = start_ready(start_up, args, env)
    soon = datetime.now(UTC) + timedelta(seconds=30)
    found = wait_for(
        lambda: [t for t in scheduled_times(port_of(args)) if t > soon], "scheduled run"
    )
    stop(up, signum)
    first: datetime = found[0]
    return first


def test_restarting_up_keeps_the_schedule_s_next_run_time(
    start_up: StartUp, up_args: list[str], up_env: dict[str, str]
) -> None:
    """Issue 16 item 2: each start redeployed the interval anchored at that moment, so an `up`
    restarted more often than every 10 minutes never ran the monitor on schedule."""
    seen = [next_time_after_a_start(start_up, up_args, up_env, signum) for signum in STOPS]

    first = seen[0]
    for later in seen[1:]:
        # The same time, or (had the test crossed it) one further on the same grid.
        assert (later - first) % timedelta(minutes=10) == timedelta(0), seen
        assert later - first <= timedelta(minutes=10), seen


# ---------------------------------------------------------------- a process killed mid-run


def test_worker_killed_mid_run_its_run_ends_and_the_next_up_alerts_once(
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
    assert "error: the worker exited unexpectedly (killed by SIGKILL)" in up.output()
    assert smtp_server.inbox.subjects() in ([], [LAMMY])

    again = start_ready(start_up, up_args, up_env)
    port = port_of(up_args)
    ended = flow_run(port, cut["id"])
    # Its process, stopped by `up`, reports Crashed itself, or `up` forces Cancelled.
    assert ended["state_type"] in {"CRASHED", "CANCELLED"}, ended["state"]
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
    assert smtp_server.inbox.subjects() in ([], [LAMMY])
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
    assert smtp_server.inbox.subjects() in ([], [LAMMY])

    again = start_ready(start_up, up_args, up_env)
    port = port_of(up_args)
    ended = flow_run(port, cut["id"])
    assert ended["state_type"] == "CRASHED", ended["state"]
    lines = [line for line in again.output().splitlines() if cut["id"] in line]
    assert lines == [
        f"newswatch up: crashed flow run '{cut['name']}' ({cut['id']}), left Running: "
        "its worker is gone (found by `newswatch up` at start)"
    ]
    next_run_alerts_once(port, feed_server, smtp_server)
    stop(again)
