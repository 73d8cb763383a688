"""`newswatch up` stopped and started again, as an operator does (issue 16 items 1 and 2, issue 15
item 1): a run in flight at the stop never blocks the later runs, the schedule keeps its times,
and the README's trigger commands work verbatim from a second terminal.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.examples import serve_examples, write_config
from tests.support.feedserver import FeedServer
from tests.support.smtp import SmtpServer, free_port
from tests.support.up_stack import (
    NEWSWATCH,
    ROOT,
    START_TIMEOUT_S,
    StartUp,
    Up,
    api,
    ready,
    up_environment,
    up_starter,
)

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(600)]

# Workers that look for runs every second, and a scheduler that makes the schedule's runs
# within seconds of a deploy (its default loop is a minute).
QUICK = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3"}
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT_S = 180
LAMMY = "[UK-China visits] Lammy visits Beijing as UK and China seek a reset"
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


# ---------------------------------------------------------------- the server, read by the test


def post(port: int, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{api(port)}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def flow_run(port: int, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{api(port)}/flow_runs/{run_id}", timeout=30)
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def monitor_runs(port: int, *states: str) -> list[dict[str, Any]]:
    """The monitor deployment's runs (in those states), earliest expected start first."""
    body: dict[str, Any] = {
        "deployments": {"name": {"any_": ["monitor"]}},
        "sort": "EXPECTED_START_TIME_ASC",
    }
    if states:
        body["flow_runs"] = {"state": {"type": {"any_": list(states)}}}
    found: list[dict[str, Any]] = post(port, "/flow_runs/filter", body)
    return found


def scheduled_times(port: int) -> list[datetime]:
    """When the schedule's coming monitor runs start."""
    runs = [r for r in monitor_runs(port, "SCHEDULED") if r["auto_scheduled"]]
    return [datetime.fromisoformat(r["expected_start_time"]) for r in runs]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = RUN_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(1)
    return result


def start_next_scheduled_run(port: int) -> dict[str, Any]:
    """The schedule's next monitor run, made due now (the test cannot wait 10 minutes).

    It stays the run the scheduler made: auto-scheduled, with the schedule's parameters.
    One that has started on its own by now is taken as it is.
    """
    run = wait_for(
        lambda: [
            r for r in monitor_runs(port, "SCHEDULED", "PENDING", "RUNNING") if r["auto_scheduled"]
        ],
        "scheduled monitor run",
    )[0]
    if run["state_type"] == "SCHEDULED":
        now = datetime.now(UTC).isoformat()
        state = {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": now}}
        post(port, f"/flow_runs/{run['id']}/set_state", {"state": state, "force": True})
    return dict(run)


def pause_schedule(port: int) -> None:
    """No scheduled run from here on, so none can collide with the runs started by hand."""
    response = httpx.get(f"{api(port)}/deployments/name/monitor/monitor", timeout=30)
    response.raise_for_status()
    deployment = response.json()
    for schedule in deployment["schedules"]:
        httpx.patch(
            f"{api(port)}/deployments/{deployment['id']}/schedules/{schedule['id']}",
            json={"active": False},
            timeout=30,
        ).raise_for_status()
    for run in monitor_runs(port, "SCHEDULED"):
        httpx.delete(f"{api(port)}/flow_runs/{run['id']}", timeout=30).raise_for_status()


def wait_final(port: int, run_id: str) -> dict[str, Any]:
    run = flow_run(port, run_id)
    return dict(
        wait_for(
            lambda: (r := flow_run(port, run_id))["state_type"] in FINAL and r,
            f"final state of {run['name']}",
        )
    )


def assert_completed(run: dict[str, Any]) -> None:
    state = run["state"] or {}
    assert run["state_type"] == "COMPLETED", f"{run['name']}: {run['state_name']}: {state}"


def deliveries(db: Path) -> list[tuple[str]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT status FROM delivery").fetchall()
        except sqlite3.OperationalError:  # the first run has not made the tables yet
            return []


def stop(up: Up, signum: int = signal.SIGINT) -> str:
    os.kill(up.process.pid, signum)
    assert up.wait_exit() == 0, up.output()
    output = up.output()
    assert "Traceback" not in output
    return output


# ---------------------------------------------------------------- the README, run verbatim


def readme_trigger_commands() -> list[str]:
    """The commands of the README block that follows 'from a second terminal'."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("Run a deployment by hand from a second terminal")
    block = re.search(r"```sh\n(.*?)```", readme[start:], re.S)
    assert block is not None
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def second_terminal(prefect_home: Path) -> dict[str, str]:
    """A fresh shell of the same user: the venv on PATH, no PREFECT_API_URL exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env["PREFECT_HOME"] = str(prefect_home)
    env["PATH"] = f"{NEWSWATCH.parent}{os.pathsep}{env.get('PATH', '')}"
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


# ---------------------------------------------------------------- the tests


def test_a_run_cut_by_stopping_up_blocks_nothing_and_its_alert_goes_out_once(
    start_up: StartUp,
    up_env: dict[str, str],
    prefect_home: Path,
    newswatch_db: Path,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    """Issue 16 item 1: Ctrl-C to `up` mid-run left the run Running, holding the monitor's one
    concurrency slot, and every later run was Cancelled. Issue 15 item 1: the README's manual
    run polled 0 feeds, and without PREFECT_API_URL started a temporary server."""
    serve_examples(feed_server)
    feed_server.routes["/continental-wire.xml"].delay_s = 12  # holds the run in flight
    config = write_config(tmp_path, feed_server, smtp_server.channel_url())
    port = free_port()
    args = ["--port", str(port), "--config", str(config)]

    up = start_up(args, up_env)
    up.wait_until(lambda: ready(up, port), START_TIMEOUT_S)
    cut = start_next_scheduled_run(port)
    # In flight: the Lammy story is stored with its alert waiting, a slow feed still polling.
    wait_for(lambda: deliveries(newswatch_db), "stored alert")
    assert flow_run(port, cut["id"])["state_type"] == "RUNNING"
    output = stop(up)

    assert f"newswatch up: cancelled flow run '{cut['name']}'" in output, output
    assert smtp_server.inbox.subjects() == []  # the cut run delivered nothing

    feed_server.routes["/continental-wire.xml"].delay_s = 0
    up = start_up(args, up_env)
    up.wait_until(lambda: ready(up, port), START_TIMEOUT_S)
    ended = flow_run(port, cut["id"])
    assert ended["state_type"] == "CANCELLED", ended["state"]
    assert "`newswatch up` stopped while it ran" in ended["state"]["message"]

    scheduled = wait_final(port, start_next_scheduled_run(port)["id"])
    assert_completed(scheduled)
    assert scheduled["parameters"]["due_only"] is True
    assert smtp_server.inbox.subjects() == [LAMMY]  # the cut run's alert, on the next run
    pause_schedule(port)

    # A new story in a feed that is not due: a run by hand must still find it.
    gazette = feed_server.routes["/harbour-gazette.xml"]
    gazette.body = gazette.body.replace(b"<item>", ENVOY_ITEM.encode("utf-8") + b"<item>", 1)
    terminal = second_terminal(prefect_home)
    commands = readme_trigger_commands()
    assert commands[0] == "prefect deployment run 'monitor/monitor'"
    for command in commands:
        run = wait_final(port, run_in_second_terminal(command, terminal))
        assert_completed(run)
        if command == commands[0]:
            assert smtp_server.inbox.subjects() == [LAMMY, ENVOY]
    assert smtp_server.inbox.subjects() == [LAMMY, ENVOY]  # each story alerted once
    cancelled = [r for r in monitor_runs(port, "CANCELLED") if r["id"] != cut["id"]]
    assert cancelled == [], [r["state"]["message"] for r in cancelled]
    stop(up)


STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGTERM)  # systemd's stop, Ctrl-C, systemd's


def next_time_after_a_start(
    start_up: StartUp, args: list[str], env: dict[str, str], port: int, signum: int
) -> datetime:
    """Start `up`, read when the schedule's next monitor run starts, stop `up` with signum."""
    up = start_up(args, env)
    up.wait_until(lambda: ready(up, port), START_TIMEOUT_S)
    soon = datetime.now(UTC) + timedelta(seconds=30)
    times = wait_for(lambda: [t for t in scheduled_times(port) if t > soon], "scheduled run")
    stop(up, signum)
    first: datetime = times[0]
    return first


def test_restarting_up_keeps_the_schedule_s_next_run_time(
    start_up: StartUp, up_env: dict[str, str], feed_server: FeedServer, tmp_path: Path
) -> None:
    """Issue 16 item 2: each start redeployed the interval anchored at that moment, so an `up`
    restarted more often than every 10 minutes never ran the monitor on schedule."""
    serve_examples(feed_server)
    config = write_config(tmp_path, feed_server, "json://127.0.0.1:9/never-sent")
    port = free_port()
    args = ["--port", str(port), "--config", str(config)]

    seen = [next_time_after_a_start(start_up, args, up_env, port, signum) for signum in STOPS]
    first = seen[0]
    for later in seen[1:]:
        # The same time, or (had the test crossed it) one further on the same grid.
        assert (later - first) % timedelta(minutes=10) == timedelta(0), seen
        assert later - first <= timedelta(minutes=10), seen
