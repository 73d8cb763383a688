"""Real Prefect processes for end-to-end tests: a server, the project's deployments, workers.

Everything runs as it would for a user: `prefect server start` on a free port with its own
PREFECT_HOME, `prefect deploy --all` from the repository root, `prefect worker start`, and
`prefect deployment run`. Each process gets its own process group and a log file, and is torn
down (SIGTERM to the group, then SIGKILL) however the test ends; when a test fails inside
`prefect_stack`, the captured logs are printed so a CI failure can be read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from flows.prefect_defaults import QUIET_PREFECT_DEFAULTS
from flows.processes import Child
from tests.support.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]
"""The checkout these tests belong to: deployments are made from here, never a fixed path."""

POOL = "newswatch"
SUBMITTING = re.compile(r"submitting flow run '([0-9a-f-]{36})'")
ABORTED = re.compile(r"Aborted submission of flow run '([0-9a-f-]{36})'")
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})

# newswatch's quiet Prefect defaults, plus what an e2e stack needs:
# no scheduler (prefect deploy creates monitor's and digest's schedules, and a scheduled
# monitor run would collide with the manual one: concurrency 1, CANCEL_NEW) and workers
# that poll every second.
STACK_SETTINGS = {
    **QUIET_PREFECT_DEFAULTS,
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    "PREFECT_WORKER_QUERY_SECONDS": "1",
    "PREFECT_CLI_WRAP_LINES": "false",
}

SERVER_START_TIMEOUT_S = 180.0
COMMAND_TIMEOUT_S = 180.0
FLOW_RUN_TIMEOUT_S = 240.0
STOP_GRACE_S = 10.0
POLL_S = 0.25  # how often a wait looks again: a condition is seen soon after it holds


@dataclass
class Process:
    """One long-running command in its own process group, its output in a log file."""

    name: str
    child: Child  # newswatch up's own child handling, so the tests stop processes the same way
    log_path: Path

    @classmethod
    def start(cls, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> Process:
        log_path = log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            child = Child.start(name, args, env=env, cwd=ROOT, output=log)
        return cls(name, child, log_path)

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        return self.child.process

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """SIGTERM the group and every descendant seen, SIGKILL what is left after a grace."""
        self.child.stop(STOP_GRACE_S)


@contextmanager
def prefect_postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for a Prefect server (with pg_trgm), dropped afterwards.

    `admin_url` is a SQLAlchemy psycopg URL of any database on the server; the result is
    the new database's asyncpg URL, the driver the Prefect server uses.
    """
    import psycopg

    name = f"prefect_e2e_{uuid.uuid4().hex[:10]}"
    admin = admin_url.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = admin.rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/{name}", autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        yield f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def base_env(prefect_home: Path) -> dict[str, str]:
    """The caller's environment without its PREFECT_/NEWSWATCH_ settings, plus the stack's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "NEWSWATCH_")) and k != "PWD"
    }
    env.update(STACK_SETTINGS)
    env["PREFECT_HOME"] = str(prefect_home)
    # prefect.yaml's pull step is `{{ $PWD }}`: the folder deploy runs in, the repository root.
    env["PWD"] = str(ROOT)
    return env


def prefect_command(*args: str) -> list[str]:
    """The prefect CLI of the interpreter running the tests (the project's venv)."""
    return [sys.executable, "-m", "prefect", *args]


@dataclass
class PrefectStack:
    """A running server with the project deployed and its workers; see `prefect_stack`."""

    api_url: str
    env: dict[str, str]
    server: Process
    workers: list[Process] = field(default_factory=list)
    command_logs: list[str] = field(default_factory=list)

    def run(self, *args: str) -> str:
        """A prefect CLI command against this server; its output (a failure raises with it)."""
        result = subprocess.run(
            prefect_command(*args),
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        output = result.stdout + result.stderr
        self.command_logs.append(f"$ prefect {' '.join(args)}\n{output}")
        if result.returncode != 0:
            raise AssertionError(f"prefect {' '.join(args)} exited {result.returncode}:\n{output}")
        return output

    def trigger(self, deployment: str, **parameters: Any) -> str:
        """`prefect deployment run` with JSON-encoded parameters; the new flow run's id."""
        args = ["deployment", "run", deployment]
        for key, value in parameters.items():
            args += ["--param", f"{key}={json.dumps(value)}"]
        output = self.run(*args)
        for line in output.splitlines():
            if "UUID:" in line:
                return line.split("UUID:", 1)[1].strip()
        raise AssertionError(f"no flow run id in the output of prefect deployment run:\n{output}")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(base_url=self.api_url, timeout=30.0) as client:
            response = client.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api("GET", f"/flow_runs/{flow_run_id}")
        return found

    def flow_runs(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api("POST", "/flow_runs/filter", dict(body))
        return found

    def wait_for(self, flow_run_id: str, timeout_s: float = FLOW_RUN_TIMEOUT_S) -> dict[str, Any]:
        """Poll the flow run (REST) until it is final; an AssertionError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.flow_run(flow_run_id)
            if run["state_type"] in TERMINAL_STATES:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"flow run {flow_run_id} still {run['state_name']} after {timeout_s:.0f} s"
                )
            time.sleep(POLL_S)

    def diagnostics(self) -> str:
        parts = [*self.command_logs]
        for process in [*self.workers, self.server]:
            parts.append(f"----- {process.name} ({process.log_path}) -----\n{process.log()}")
        return "\n".join(parts)


def _wait_healthy(server: Process, api_url: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.popen.poll() is not None:
            raise AssertionError(
                f"prefect server exited {server.popen.returncode} while starting:\n{server.log()}"
            )
        try:
            if httpx.get(f"{api_url}/health", timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL_S)
    raise AssertionError(
        f"prefect server not healthy after {SERVER_START_TIMEOUT_S:.0f} s:\n{server.log()}"
    )


@contextmanager
def prefect_stack(
    tmp_path: Path,
    *,
    server_database_url: str,
    flow_env: Mapping[str, str],
    workers: int = 1,
    worker_limit: int | None = None,
) -> Iterator[PrefectStack]:
    """Server on a free port, pool `newswatch`, `prefect deploy --all`, `workers` workers.

    `server_database_url` is the server's own database (SQLite or PostgreSQL); `flow_env`
    is what the flow runs need (NEWSWATCH_DATABASE_URL), given to the workers, whose flow
    run processes inherit it. Everything is stopped on exit, workers before the server.
    """
    home = tmp_path / "prefect-home"
    home.mkdir(exist_ok=True)  # a test may have begun it from tests/support/prefect_template.py
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = base_env(home)
    env["PREFECT_API_URL"] = api_url
    server_env = {**env, "PREFECT_SERVER_DATABASE_CONNECTION_URL": server_database_url}
    with ExitStack() as cleanup:
        server = Process.start(
            "server",
            prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(port)),
            server_env,
            tmp_path,
        )
        cleanup.callback(server.stop)
        stack = PrefectStack(api_url=api_url, env=env, server=server)
        try:
            _wait_healthy(server, api_url)
            stack.run("work-pool", "create", POOL, "--type", "process")
            stack.run("--no-prompt", "deploy", "--all")
            worker_env = {**env, **flow_env}
            limit = [] if worker_limit is None else ["--limit", str(worker_limit)]
            for number in range(1, workers + 1):
                name = f"worker-{number}"
                worker = Process.start(
                    name,
                    prefect_command("worker", "start", "--pool", POOL, "--name", name, *limit),
                    worker_env,
                    tmp_path,
                )
                # ExitStack unwinds in reverse: the workers stop before the server.
                cleanup.callback(worker.stop)
                stack.workers.append(worker)
            yield stack
        except BaseException:
            print(stack.diagnostics())
            raise


def started_by(stack: PrefectStack) -> dict[str, set[str]]:
    """The ids of the flow runs each worker started, from its log.

    Both workers may try to submit a run they both saw; the server lets one move it to
    Pending and the other logs "Aborted submission of flow run '<id>'".
    """
    started: dict[str, set[str]] = {}
    for worker in stack.workers:
        log = worker.log()
        started[worker.name] = set(SUBMITTING.findall(log)) - set(ABORTED.findall(log))
    return started
