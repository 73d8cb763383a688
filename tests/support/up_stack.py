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
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
NEWSWATCH = Path(sys.executable).with_name("newswatch")
PREFECT = Path(sys.executable).with_name("prefect")
START_TIMEOUT_S = 240  # a fresh PREFECT_HOME migrates its database first; 2 shared cores
STOP_TIMEOUT_S = 90
DEPLOYMENTS = {"monitor", "digest", "backtest"}

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

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(NEWSWATCH), "up", *args],
                cwd=ROOT,
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
            time.sleep(1)
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


StartUp = Callable[[list[str], dict[str, str]], Up]


@contextmanager
def up_starter(log_dir: Path) -> Iterator[StartUp]:
    """Start `newswatch up` as often as a test likes; every one and its processes are ended."""
    started: list[Up] = []

    def start(args: list[str], env: dict[str, str]) -> Up:
        up = Up(args, env, log_dir / f"up-{len(started)}.log")
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
