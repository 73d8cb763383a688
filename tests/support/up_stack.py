"""`newswatch up` run as a user runs it, watched from outside through /proc and the REST API.

The tests start `newswatch up` in its own session and watch every process of that session
and below it (read from /proc, independently of flows.processes), so a process left behind
after the stop is caught whatever session it moved to.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
NEWSWATCH = Path(sys.executable).with_name("newswatch")
PREFECT = Path(sys.executable).with_name("prefect")
POLL_S = 0.25  # how often a wait looks again: a condition is seen soon after it holds
START_TIMEOUT_S = 240  # a fresh PREFECT_HOME migrates its database first; 2 shared cores
STOP_TIMEOUT_S = 90
DEPLOYMENTS = {"monitor", "digest", "backtest"}
# Workers that look for runs every second, and a scheduler that makes the schedule's runs
# within seconds of a deploy (its default loop is a minute).
QUICK = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3"}
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT_S = 180
LAMMY = "[UK-China visits] Lammy visits Beijing as UK and China seek a reset"
WORKER_PID = r"worker '[^']+' polling pool 'newswatch' \(pid (\d+)\)"  # one line per worker start

Proc = tuple[int, int]  # pid, start time: a pid alone may be reused


# ---------------------------------------------------------------- /proc, read by the test


def proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, session id, start time), None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[3]), int(fields[19])


def family(root: int) -> set[Proc]:
    """Every process in root's session or below root, now."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := proc_stat(int(entry))) is not None:
            table[int(entry)] = stat
    found = {(pid, st[3]) for pid, st in table.items() if st[2] == root and pid != root}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, st in table.items():
            if st[1] == parent and (pid, st[3]) not in found:
                found.add((pid, st[3]))
                frontier.append(pid)
    return found


def alive(proc: Proc) -> bool:
    stat = proc_stat(proc[0])
    return stat is not None and stat[3] == proc[1] and stat[0] not in {"Z", "X"}


def kill_all(procs: set[Proc]) -> None:
    for proc in procs:
        if alive(proc):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc[0], signal.SIGKILL)


# ---------------------------------------------------------------- Prefect API, read by the test


def api(port: int) -> str:
    return f"http://127.0.0.1:{port}/api"


def answers(port: int) -> bool:
    try:
        return httpx.get(f"{api(port)}/health", timeout=3).json() is True
    except (httpx.HTTPError, ValueError):
        return False


def deployments(port: int) -> dict[str, dict[str, object]]:
    response = httpx.post(f"{api(port)}/deployments/filter", json={}, timeout=10)
    response.raise_for_status()
    return {d["name"]: d for d in response.json()}


def online_workers(port: int) -> list[str]:
    response = httpx.post(f"{api(port)}/work_pools/newswatch/workers/filter", json={}, timeout=10)
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return [w["name"] for w in response.json() if w["status"] == "ONLINE"]


def ready(up: Up, port: int) -> bool:
    """The deployments exist and the worker this very `up` started is online."""
    started = re.search(r"Worker '([^']+)' started!", up.output())
    if started is None or not answers(port):
        return False
    try:
        return set(deployments(port)) >= DEPLOYMENTS and started.group(1) in online_workers(port)
    except httpx.HTTPError:
        return False


class Up:
    """A running `newswatch up`, its output, and every process it ever had."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(NEWSWATCH), "up", *args],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.seen: set[Proc] = set()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.seen |= family(self.process.pid)
            assert self.process.poll() is None, f"newswatch up ended early:\n{self.output()}"
            assert time.monotonic() < deadline, f"not ready in {timeout} s:\n{self.output()}"
            time.sleep(POLL_S)
        self.seen |= family(self.process.pid)

    def wait_exit(self) -> int:
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"newswatch up did not stop:\n{self.output()}")

    def teardown(self) -> None:
        if self.process.poll() is None:
            self.seen |= family(self.process.pid)
            self.process.kill()
            self.process.wait()
        kill_all(self.seen)


StartUp = Callable[[list[str], dict[str, str]], Up]


@contextmanager
def up_starter(log_dir: Path, cwd: Path = ROOT) -> Iterator[StartUp]:
    """Start `newswatch up` (in cwd, the checkout it deploys) as often as a test likes; every
    one and its processes are ended."""
    started: list[Up] = []

    def start(args: list[str], env: dict[str, str]) -> Up:
        up = Up(args, env, log_dir / f"up-{len(started)}.log", cwd)
        started.append(up)
        return up

    try:
        yield start
    finally:
        for up in started:
            up.teardown()


def up_environment(prefect_home: Path, database_url: str) -> dict[str, str]:
    """The caller's environment without PREFECT_/NEWSWATCH_ settings, plus a Prefect home
    and a newswatch database of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env["PREFECT_HOME"] = str(prefect_home)
    env["NEWSWATCH_DATABASE_URL"] = database_url
    return env


# ---------------------------------------------------------------- runs, read and moved by the test


def call(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One API call; a 503 (the server's SQLite database busy, seen under load) is tried
    again, whatever the method."""
    for _ in range(8):
        response = httpx.request(method, f"{api(port)}{path}", json=body, timeout=30)
        if response.status_code != 503:
            break
        time.sleep(2)
    response.raise_for_status()
    return response.json() if response.content else None


def post(port: int, path: str, body: dict[str, Any]) -> Any:
    return call(port, "POST", path, body)


def flow_run(port: int, run_id: str) -> dict[str, Any]:
    found: dict[str, Any] = call(port, "GET", f"/flow_runs/{run_id}")
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
        time.sleep(POLL_S)
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
    deployment = call(port, "GET", "/deployments/name/monitor/monitor")
    for schedule in deployment["schedules"]:
        path = f"/deployments/{deployment['id']}/schedules/{schedule['id']}"
        call(port, "PATCH", path, {"active": False})
    for run in monitor_runs(port, "SCHEDULED"):
        call(port, "DELETE", f"/flow_runs/{run['id']}")


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


def trigger_monitor(port: int) -> str:
    """A monitor run by hand, with the deployment's parameters (as `prefect deployment run`)."""
    deployment = call(port, "GET", "/deployments/name/monitor/monitor")
    run = post(port, f"/deployments/{deployment['id']}/create_flow_run", {})
    return str(run["id"])


def pid_in_output(up: Up, pattern: str) -> int:
    r"""A pid `up` printed, e.g. r"Prefect server ready \(pid (\d+)\)"."""
    found = re.search(pattern, up.output())
    assert found, up.output()
    return int(found.group(1))


def flow_run_process(worker_pid: int) -> int:
    """The process the worker started for the flow run in flight (its one child)."""
    children = wait_for(
        lambda: [p for p, _ in family(worker_pid) if (s := proc_stat(p)) and s[1] == worker_pid],
        "flow run process",
    )
    assert len(children) == 1, children
    return int(children[0])
