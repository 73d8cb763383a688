"""`newswatch up` leaves nothing behind however it ends: Ctrl-C behind a pipe, SIGKILL.

Issue 25, findings 3 and 4: `newswatch up 2>&1 | tee up.log` then Ctrl-C returned the prompt
while the server and the worker ran on with PPID 1 and the profile stayed active, and the
next `newswatch run` printed a traceback; after a SIGKILL of `up`, its server and worker ran
on unsupervised and the next `up` reused them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from flows.processes import Ledger
from flows.up import PROFILE, Stack, UpOptions
from tests.support.examples import serve_examples, write_config
from tests.support.feedserver import FeedServer
from tests.support.prefect_template import seed
from tests.support.smtp import free_port
from tests.support.up_stack import (
    NEWSWATCH,
    POLL_S,
    ROOT,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Proc,
    StartUp,
    Up,
    alive,
    answers,
    family,
    ready,
    up_environment,
)


@pytest.fixture
def up_env(tmp_path: Path, prefect_template: Path) -> dict[str, str]:
    home = seed(tmp_path / "prefect-home", prefect_template)
    return up_environment(home, f"sqlite:///{tmp_path / 'newswatch.db'}")


@pytest.fixture
def config(feed_server: FeedServer, tmp_path: Path) -> Path:
    serve_examples(feed_server)
    return write_config(tmp_path, feed_server, "json://127.0.0.1:9/never-sent")


def active_profile(prefect_home: Path) -> str | None:
    """The profile `prefect` commands of a new terminal would use, read from the file."""
    import tomllib

    path = prefect_home / "profiles.toml"
    if not path.exists():
        return None
    active = tomllib.loads(path.read_text(encoding="utf-8")).get("active")
    return active if isinstance(active, str) else None


def wait_all_gone(procs: set[Proc], port: int, what: str) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while [p for p in procs if alive(p)] or answers(port):
        assert time.monotonic() < deadline, f"{what}: still running {procs}"
        time.sleep(POLL_S)


class PipedUp(Up):
    """`newswatch up ... 2>&1 | tee up.log` typed in a terminal: one process group."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        line = f"{NEWSWATCH} up {' '.join(args)} 2>&1 | tee {log}"
        self.process = subprocess.Popen(
            ["bash", "-c", line],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.seen = set()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


# ---------------------------------------------------------------- real `up`, real ends


@pytest.mark.prefect
def test_ctrl_c_on_up_behind_a_pipe_stops_server_and_worker_and_restores_the_profile(
    up_env: dict[str, str], config: Path, tmp_path: Path
) -> None:
    port = free_port()
    up = PipedUp(["--port", str(port), "--config", str(config)], up_env, tmp_path / "up.log")
    try:
        up.wait_until(lambda: ready(up, port), START_TIMEOUT_S)
        home = Path(up_env["PREFECT_HOME"])
        assert active_profile(home) == PROFILE
        assert "Configure Prefect" not in up.output()  # the server's own banner is in its log
        # the page a run's "View at" link opens, asked for as a browser asks
        page = f"http://127.0.0.1:{port}/runs"
        ui = httpx.get(page, headers={"Accept": "text/html"}, timeout=30)
        assert ui.status_code == 200
        assert "<html" in ui.text.lower()

        os.killpg(up.process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group, tee too
        up.process.wait(timeout=STOP_TIMEOUT_S)
        wait_all_gone(up.seen, port, "after Ctrl-C behind a pipe")
        assert active_profile(home) != PROFILE
        assert not (home / f"newswatch-up-{port}.json").exists()
    finally:
        up.teardown()


@pytest.mark.prefect
def test_sigkill_of_up_ends_its_server_and_worker_and_the_next_run_needs_no_up(
    start_up: StartUp, up_env: dict[str, str], config: Path
) -> None:
    port = free_port()
    up = start_up(["--port", str(port), "--config", str(config)], up_env)
    up.wait_until(lambda: ready(up, port), START_TIMEOUT_S)
    children = family(up.process.pid)

    up.process.kill()
    up.process.wait()
    wait_all_gone(children, port, "after SIGKILL of up")

    # The profile still names the dead server: the next run says so and runs without it.
    run = subprocess.run(
        [str(NEWSWATCH), "run", "--dry-run", "-c", str(config)],
        cwd=ROOT,
        env=up_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "does not answer" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert active_profile(Path(up_env["PREFECT_HOME"])) != PROFILE


# ---------------------------------------------------------------- the pieces, on real processes

OWNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from flows.processes import Child, Ledger
    child = Child.start("sleeper", [sys.executable, "-c", sys.argv[2]], env={}, cwd=Path("."))
    deadline = time.monotonic() + 60
    while not child.seen and time.monotonic() < deadline:  # until the grandchild runs
        time.sleep(0.05)
        child.remember_descendants()
    Ledger(Path(sys.argv[1])).record(child.known())
    print(child.pid, flush=True)
    time.sleep(600)
    """
)
# A sleeper that starts a grandchild in a session of its own, as a worker starts flow runs:
# the kernel's parent-death signal reaches the sleeper only.
SLEEPER = textwrap.dedent(
    """
    import subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                     start_new_session=True)
    time.sleep(600)
    """
)


def start_owner(ledger: Path) -> tuple[subprocess.Popen[str], int]:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(ledger), SLEEPER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    return owner, int(owner.stdout.readline())


def test_a_child_gets_sigterm_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    owner, sleeper = start_owner(tmp_path / "ledger.json")
    child = next(p for p in family(owner.pid) if p[0] == sleeper)
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 10
    while alive(child):
        assert time.monotonic() < deadline, "the child outlived its killed supervisor"
        time.sleep(POLL_S)
    for leftover in Ledger(tmp_path / "ledger.json").leftovers():
        os.kill(leftover[0], signal.SIGKILL)


def test_the_next_up_stops_what_a_killed_up_left_running(tmp_path: Path, config: Path) -> None:
    port = free_port()
    home = tmp_path / "prefect-home"
    home.mkdir()
    owner, _ = start_owner(home / f"newswatch-up-{port}.json")
    recorded = Ledger(home / f"newswatch-up-{port}.json")
    assert recorded.leftovers() == set()  # its owner still runs: nothing is left over yet
    owner.kill()
    owner.wait()
    left = recorded.leftovers()
    assert len(left) >= 1  # the grandchild in a session of its own

    said: list[str] = []
    options = UpOptions(
        host="127.0.0.1",
        port=port,
        project_dir=ROOT,
        config=config,
        newswatch_env={},
        stop_timeout=5,
        base_env={"PREFECT_HOME": str(home)},
    )
    stack = Stack(options, said.append, threading.Event())
    stack.stop_leftovers()
    stack.api.close()
    assert [p for p in left if alive(p)] == []
    assert len(said) == 1, said
    assert "left running by a `newswatch up`" in said[0]
    assert not recorded.path.exists()
