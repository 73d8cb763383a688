"""`newswatch up` on one machine: a Prefect server, the work pool, the deployments, a worker.

It drives the `prefect` command of the same environment as child processes (flows.processes
keeps them in their own process groups) and stops them in order, worker first, then the
server. The server's REST API tells it which runs were left in flight (flows.run_cleanup),
and Prefect's own profile functions make the `prefect` CLI of other terminals use its server.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import yaml
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from flows.prefect_defaults import DEFAULTED, QUIET_PREFECT_DEFAULTS
from flows.processes import Child, Ledger, stop_procs
from flows.run_cleanup import (
    PrefectApi,
    end_orphaned_runs,
    end_runs_of_gone_workers,
    skip_missed_runs,
)
from flows.up_profile import PROFILE, activate_profile, api_url, probe_server, restore_profile
from newswatch.settings import get_settings

POOL = "newswatch"
POLL_S = 0.5
OUTPUT_TAIL = 20  # lines of a failed prefect command's output to show
# A worker that dies is started again, unless it keeps dying: then something is wrong that a
# restart will not mend (its environment, the checkout), and `up` stops with that error.
WORKER_DEATHS_ALLOWED = 3
WORKER_DEATH_WINDOW_S = 600.0
# The worker's heartbeat: the server marks a worker OFFLINE three missed heartbeats after
# its last one, so a worker that dies on any machine leaves the pool within about 45 s
# instead of Prefect's default 90 to 105 s.
WORKER_HEARTBEAT_S = "10"
GONE_SCAN_S = 15.0  # how often `up` looks for runs held by workers the server marked offline

Echo = Callable[[str], None]


class ServiceError(Exception):
    """A problem to report in one line (never with a traceback); exit_code for the CLI."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Stopped(Exception):
    """A stop signal arrived while we were still starting up."""


# ---------------------------------------------------------------- URLs and the server


def prefect_home(env: Mapping[str, str]) -> Path:
    """Where the children's Prefect keeps its profiles and SQLite database."""
    from prefect.settings import PREFECT_HOME

    home = Path(env.get("PREFECT_HOME") or PREFECT_HOME.value()).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def prefect_command() -> list[str]:
    """The `prefect` CLI of this very environment (never one found elsewhere on PATH)."""
    script = Path(sys.executable).with_name("prefect")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "prefect"]


def worker_name(project_dir: Path, host: str | None = None) -> str:
    """The worker's name, the same at every start on this host from this checkout.

    A restarted `up` then shows as the same worker in the pool (not one more
    "ProcessWorker <uuid>"), and the runs it left behind are known by the name on them.
    """
    digest = hashlib.sha256(str(project_dir.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"newswatch-{host or socket.gethostname()}-{digest}"


def redact_url(url: str) -> str:
    """A database URL safe to print: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def prefect_database_url(url: str) -> str:
    """The URL the Prefect server needs: PostgreSQL through asyncpg, SQLite through aiosqlite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ServiceError(
            f"the Prefect database URL {url.split('://')[0]}://... is not a database URL",
            exit_code=2,
        ) from None
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise ServiceError(
        f"the Prefect database must be PostgreSQL or SQLite, not {backend!r} ({redact_url(url)})",
        exit_code=2,
    )


def ensure_pg_trgm(url: str, timeout: float = 10.0) -> bool:
    """Make sure the Prefect database has pg_trgm (its migrations need it); True if created.

    Creating it needs the CREATE privilege on the database (pg_trgm is a trusted extension
    since PostgreSQL 13); without it the user gets the one statement to ask an admin for.
    """
    import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

    parsed: URL = make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    shown = redact_url(url)

    def clean(exc: BaseException) -> str:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return text.replace(parsed.password, "***") if parsed.password else text

    async def check() -> bool:
        conn = await asyncpg.connect(dsn, timeout=timeout)
        try:
            if await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"):
                return False
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except asyncpg.PostgresError as exc:
                raise ServiceError(
                    f"the Prefect database {shown} needs the pg_trgm extension and this user "
                    f"cannot create it ({clean(exc)}); ask an administrator to run "
                    "'CREATE EXTENSION pg_trgm;' in that database"
                ) from None
            return True
        finally:
            await conn.close()

    try:
        return asyncio.run(check())
    except ServiceError:
        raise
    except (OSError, TimeoutError) as exc:
        raise ServiceError(f"cannot reach the Prefect database {shown}: {clean(exc)}") from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ServiceError(f"cannot use the Prefect database {shown}: {clean(exc)}") from None


# ---------------------------------------------------------------- the project and its deploy


def find_project_dir(cwd: Path) -> Path:
    """The checkout to deploy from: the working directory, else the one newswatch runs from."""
    for candidate in (cwd, Path(__file__).resolve().parent.parent):
        if (candidate / "prefect.yaml").is_file():
            return candidate.resolve()
    raise ServiceError(
        "no prefect.yaml in this directory or in the newswatch checkout; "
        "run `newswatch up` from the newswatch project directory",
        exit_code=2,
    )


def deployment_names(prefect_file: Path) -> list[str]:
    data = yaml.safe_load(prefect_file.read_text(encoding="utf-8")) or {}
    return [str(d.get("name")) for d in data.get("deployments") or [] if isinstance(d, dict)]


def deploy_file(project_dir: Path, config: Path, workdir: Path) -> Path:
    """The prefect.yaml to deploy: the project's own, or a copy that names `config`.

    The deployments pass config_path=newswatch.yaml, read in the checkout (their pull step
    sets the working directory to it). A config anywhere else is written into each
    deployment's config_path as an absolute path; `prefect deploy --all` ignores --param.
    """
    source = project_dir / "prefect.yaml"
    if config.resolve() == (project_dir / "newswatch.yaml").resolve():
        return source
    data: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    for spec in data.get("deployments") or []:
        parameters = spec.get("parameters") if isinstance(spec, dict) else None
        if isinstance(parameters, dict) and "config_path" in parameters:
            parameters["config_path"] = str(config.resolve())
    target = workdir / "prefect.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def newswatch_environment(config: Path) -> dict[str, str]:
    """The newswatch settings flow runs need, made absolute (they run in the checkout)."""
    settings = get_settings()
    env = {"NEWSWATCH_CONFIG": str(config.resolve())}
    if settings.database_url:
        env["NEWSWATCH_DATABASE_URL"] = settings.database_url
    else:
        env["NEWSWATCH_DATA_DIR"] = str(settings.data_dir.resolve())
    return env


def child_environment(
    base: Mapping[str, str], *, url: str, project_dir: Path, newswatch_env: Mapping[str, str]
) -> dict[str, str]:
    """What every child sees: our environment, quiet Prefect, our server, our newswatch.

    PWD is set because prefect.yaml's pull step reads `{{ $PWD }}` at deploy time.
    """
    env = dict(base)
    for name, value in QUIET_PREFECT_DEFAULTS.items():
        env.setdefault(name, value)
    env.update(newswatch_env)
    env["PREFECT_API_URL"] = url
    # A server protected by basic auth: its clients (deploy, worker, flows) log in the same way.
    if env.get("PREFECT_SERVER_API_AUTH_STRING") and not env.get("PREFECT_API_AUTH_STRING"):
        env["PREFECT_API_AUTH_STRING"] = env["PREFECT_SERVER_API_AUTH_STRING"]
    env.setdefault("PREFECT_WORKER_HEARTBEAT_SECONDS", WORKER_HEARTBEAT_S)
    env["PWD"] = str(project_dir)
    return env


def exit_reason(code: int) -> str:
    """A child's exit status as a person reads it: "exit code 1", "killed by SIGKILL"."""
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


# ---------------------------------------------------------------- the whole stack


@dataclass
class UpOptions:
    host: str
    port: int
    project_dir: Path
    config: Path
    newswatch_env: Mapping[str, str]
    prefect_database_url: str | None = None
    start_timeout: float = 180.0
    stop_timeout: float = 20.0
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class Stack:
    """Starts (or reuses) the server, makes the pool, deploys, runs a worker (a new one when
    it dies); stops in order."""

    def __init__(
        self, options: UpOptions, echo: Echo, stop: threading.Event, *, warn: Echo | None = None
    ) -> None:
        self.options = options
        self.echo = echo
        self.warn = warn or echo
        self.stop_event = stop
        self.url = api_url(options.host, options.port)
        self.children: list[Child] = []
        self.env = child_environment(
            options.base_env,
            url=self.url,
            project_dir=options.project_dir,
            newswatch_env=options.newswatch_env,
        )
        self.worker_name = worker_name(options.project_dir)
        self.worker: Child | None = None
        self.api = PrefectApi(self.url, self.env.get("PREFECT_API_AUTH_STRING"))
        self.profile_taken = False
        self.previous_profile: str | None = None
        home = prefect_home(self.env)
        self.ledger = Ledger(home / f"newswatch-up-{options.port}.json")
        self.server_log = home / f"newswatch-up-server-{options.port}.log"

    def say(self, line: str) -> None:
        self.echo(f"newswatch up: {line}")

    def run(self) -> int:
        """Run until stopped: 0 after a stop signal, else the failure's exit code.

        A failure is reported in one line before the rest is stopped.
        """
        code = 0
        try:
            self.stop_leftovers()
            self.start_server()
            self.ensure_pool()
            self.deploy()
            self.end_orphaned_runs(
                "CRASHED", "its worker is gone (found by `newswatch up` at start)", "crashed"
            )
            self.skip_missed_runs()
            self.take_profile()
            self.start_worker()
            self.supervise()
        except Stopped:
            pass
        except ServiceError as exc:
            self.warn(f"error: {exc}")
            code = exc.exit_code
        except httpx.HTTPError as exc:
            self.warn(f"error: the Prefect server at {self.url} stopped answering ({exc})")
            code = 1
        finally:
            self.stop_all()
        return code

    def stop_leftovers(self) -> None:
        """Stop what an earlier `up` on this port left running when it was killed outright."""
        leftovers = self.ledger.leftovers()
        if leftovers:
            self.say(
                f"stopping {len(leftovers)} process(es) left running by a `newswatch up` on "
                f"port {self.options.port} that was killed: "
                + ", ".join(str(pid) for pid, _ in sorted(leftovers))
            )
            stop_procs(leftovers, self.options.stop_timeout)
        self.ledger.clear()

    def start_server(self) -> None:
        state = probe_server(self.url)
        if state == "prefect":
            self.say(f"reusing the Prefect server at {self.url} (it stays running afterwards)")
            if self.options.prefect_database_url:
                self.say("note: --prefect-database-url is ignored: that server has its database")
            return
        if state == "other":
            raise ServiceError(
                f"port {self.options.port} on {self.options.host} answers, but not as a "
                "Prefect server; choose another --port",
                exit_code=2,
            )
        # Only the server: libraries below Prefect (SQLAlchemy's pool, aiosqlite) print a
        # CancelledError traceback when a stop cuts one of its database calls short. Prefect's
        # own loggers have their levels and still print; a value set by the user wins.
        # The UI is on (every run's log links to it) unless the user turned it off.
        extra = {
            "PREFECT_LOGGING_ROOT_LEVEL": self.env.get("PREFECT_LOGGING_ROOT_LEVEL", "CRITICAL"),
            "PREFECT_UI_ENABLED": (
                "true"
                if "PREFECT_UI_ENABLED" in DEFAULTED
                else self.options.base_env.get("PREFECT_UI_ENABLED", "true")
            ),
        }
        database = "SQLite in PREFECT_HOME"
        if self.options.prefect_database_url:
            db_url = prefect_database_url(self.options.prefect_database_url)
            database = redact_url(db_url)
            if db_url.startswith("postgresql") and ensure_pg_trgm(db_url):
                self.say(f"created the pg_trgm extension in {database}")
            extra["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = db_url
        self.say(f"starting the Prefect server at {self.url} (database: {database})")
        self.say(f"the server's own output goes to {self.server_log}")
        with self.server_log.open("ab") as log:
            server = self.spawn(
                "Prefect server",
                ["server", "start", "--host", self.options.host, "--port", str(self.options.port)],
                extra,
                output=log,
            )
        deadline = time.monotonic() + self.options.start_timeout
        while probe_server(self.url) != "prefect":
            self.check_children()
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"the Prefect server did not answer at {self.url} within "
                    f"{self.options.start_timeout:g} s"
                )
            if self.stop_event.wait(POLL_S):
                raise Stopped
        ui = api_url(self.options.host, self.options.port).removesuffix("/api")
        self.say(f"Prefect server ready (pid {server.pid}); its UI: {ui}")

    def ensure_pool(self) -> None:
        response = self.api.work_pool(POOL)
        if response.status_code == 200:
            kind = response.json().get("type")
            self.say(f"work pool {POOL!r} exists (type {kind})")
            return
        if response.status_code != 404:
            hint = " (check PREFECT_API_AUTH_STRING)" if response.status_code == 401 else ""
            raise ServiceError(
                f"the Prefect server at {self.url} answered HTTP {response.status_code} "
                f"when asked for work pool {POOL!r}{hint}"
            )
        self.run_once("work pool", ["work-pool", "create", POOL, "--type", "process"])
        self.say(f"created work pool {POOL!r} (type process)")

    def deploy(self) -> None:
        with tempfile.TemporaryDirectory(prefix="newswatch-up-") as workdir:
            prefect_file = deploy_file(self.options.project_dir, self.options.config, Path(workdir))
            argv = ["deploy", "--all", "--no-prompt"]
            if prefect_file != self.options.project_dir / "prefect.yaml":
                argv += ["--prefect-file", str(prefect_file)]
            self.run_once("deploy", argv)
            names = ", ".join(deployment_names(prefect_file))
        self.say(f"deployed {names} from {self.options.project_dir} (config {self.options.config})")

    def spawn(
        self,
        name: str,
        args: list[str],
        extra: Mapping[str, str] | None = None,
        output: IO[bytes] | None = None,
    ) -> Child:
        child = Child.start(
            name,
            prefect_command() + args,
            env={**self.env, **(extra or {})},
            cwd=self.options.project_dir,
            output=output,
        )
        self.children.append(child)
        self.record()
        return child

    def record(self) -> None:
        """Name every process we have had in the ledger, for the next `up` if we are killed."""
        known = set()
        for child in self.children:
            known |= child.known()
        self.ledger.record(known)

    def run_once(self, name: str, args: list[str]) -> None:
        """A prefect command that must finish (and succeed) before we go on.

        Its chatter is kept out of the way; on failure its last lines are shown.
        """
        with tempfile.TemporaryFile() as output:
            child = self.spawn(name, args, output=output)
            while (code := child.exit_code()) is None:
                if self.stop_event.wait(POLL_S):
                    raise Stopped
                self.check_children(skip=child)
            self.children.remove(child)
            if code != 0:
                output.seek(0)
                lines = output.read().decode("utf-8", "replace").splitlines()
                for line in lines[-OUTPUT_TAIL:]:
                    self.warn(f"  | {line}")
                raise ServiceError(f"`prefect {' '.join(args)}` failed (exit code {code})")

    def start_worker(self) -> None:
        self.worker = self.spawn(
            "worker", ["worker", "start", "--pool", POOL, "--name", self.worker_name]
        )
        self.say(
            f"worker {self.worker_name!r} polling pool {POOL!r} (pid {self.worker.pid}); "
            "Ctrl-C stops everything"
        )

    def supervise(self) -> None:
        """Watch the children until stopped: a dead worker is replaced, anything else ends `up`.

        The server outlives its worker, so other workers of the pool (other machines, a
        second worker here) keep their server while ours is started again.
        """
        last_scan = last_gone_scan = 0.0
        deaths: list[float] = []
        seen_gone: set[str] = set()
        while not self.stop_event.wait(POLL_S):
            worker = self.worker
            self.check_children(skip=worker)  # a dead server ends `up` before any worker restart
            if worker is not None and (code := worker.exit_code()) is not None:
                now = time.monotonic()
                deaths = [t for t in deaths if now - t < WORKER_DEATH_WINDOW_S] + [now]
                if len(deaths) > WORKER_DEATHS_ALLOWED:
                    raise ServiceError(
                        f"the worker exited unexpectedly ({exit_reason(code)}), "
                        f"{len(deaths)} times in {WORKER_DEATH_WINDOW_S / 60:g} minutes"
                    )
                self.replace_worker(worker, code)
            if time.monotonic() - last_scan > 2:
                last_scan = time.monotonic()
                for child in self.children:
                    child.remember_descendants()
                self.record()
            if time.monotonic() - last_gone_scan > GONE_SCAN_S:
                last_gone_scan = time.monotonic()
                seen_gone = end_runs_of_gone_workers(
                    self.api, POOL, own_worker=self.worker_name, seen_gone=seen_gone, say=self.say
                )
        raise Stopped

    def replace_worker(self, worker: Child, code: int) -> None:
        """A new worker for the one that died; what it ran ends Crashed, its slot freed.

        The dead one is removed from the pool at once rather than shown ONLINE until the
        server misses its heartbeats.
        """
        self.warn(
            f"newswatch up: the worker exited unexpectedly ({exit_reason(code)}); "
            "starting a new one (the server keeps running)"
        )
        self.children.remove(worker)
        self.worker = None
        how = worker.stop(self.options.stop_timeout)
        self.say(f"{how} the worker (pid {worker.pid})")
        try:
            self.end_orphaned_runs("CRASHED", "its worker exited while it ran", "crashed")
            self.api.forget_worker(POOL, self.worker_name)
        except httpx.HTTPError as exc:  # the server's own death is caught by check_children
            self.warn(
                f"note: the dead worker's runs are not ended yet ({exc}); the next start ends them"
            )
        self.start_worker()

    def check_children(self, skip: Child | None = None) -> None:
        for child in self.children:
            code = child.exit_code()
            if child is not skip and code is not None:
                where = f"; its output: {self.server_log}" if child.name == "Prefect server" else ""
                raise ServiceError(
                    f"the {child.name} exited unexpectedly ({exit_reason(code)}){where}"
                )

    def end_orphaned_runs(self, state_type: str, why: str, verb: str) -> None:
        end_orphaned_runs(
            self.api,
            POOL,
            own_worker=self.worker_name,
            state_type=state_type,
            why=why,
            verb=verb,
            say=self.say,
        )

    def skip_missed_runs(self) -> None:
        skip_missed_runs(self.api, POOL, now=datetime.now(UTC), say=self.say)

    def take_profile(self) -> None:
        self.previous_profile = activate_profile(self.url)
        self.profile_taken = True
        self.say(
            f"Prefect profile {PROFILE!r} is active (PREFECT_API_URL={self.url}): `prefect` "
            "commands in other terminals use this server until `newswatch up` stops"
        )

    def stop_all(self) -> None:
        """Worker first (it may be running flows), then whatever else we started, reversed.

        Runs the stopped worker had in flight are cancelled while the server still answers,
        so no run is left holding the monitor's concurrency slot.
        """
        if self.stop_event.is_set():
            self.say("stopping")
        if self.worker is not None and self.worker in self.children:
            self.children.remove(self.worker)
            self.stop_child(self.worker)
            self.cancel_runs_of_stopped_worker()
        while self.children:
            self.stop_child(self.children.pop())
        if self.profile_taken:
            restore_profile(self.previous_profile)
            self.say(f"Prefect profile {self.previous_profile or 'default'!r} is active again")
        self.ledger.clear()
        self.api.close()

    def cancel_runs_of_stopped_worker(self) -> None:
        """What the worker had in flight ends Cancelled (the next start ends what this missed)."""
        if probe_server(self.url) != "prefect":
            self.warn(
                f"note: the server at {self.url} does not answer; the next start ends its runs"
            )
            return
        why = (
            "`newswatch up` stopped while it ran"
            if self.stop_event.is_set()
            else "its worker exited while it ran"
        )
        try:
            self.end_orphaned_runs("CANCELLED", why, "cancelled")
        except httpx.HTTPError as exc:
            self.warn(f"error: could not end the worker's runs at {self.url}: {exc}")

    def stop_child(self, child: Child) -> None:
        how = child.stop(self.options.stop_timeout)
        self.say(f"{how} the {child.name} (pid {child.pid})")
