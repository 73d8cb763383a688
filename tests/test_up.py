"""`newswatch up` as a user runs it: a real Prefect server, deploy and worker, then Ctrl-C.

The full-stack tests watch every process `up` ever had (tests/support/up_stack.py), so a
process left behind after the stop is caught whatever session it moved to.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from flows.up import (
    ServiceError,
    child_environment,
    deploy_file,
    ensure_pg_trgm,
    prefect_database_url,
)
from tests.support.examples import serve_examples, write_config
from tests.support.feedserver import FeedServer
from tests.support.smtp import free_port
from tests.support.up_stack import (
    DEPLOYMENTS,
    NEWSWATCH,
    POLL_S,
    PREFECT,
    ROOT,
    START_TIMEOUT_S,
    WORKER_PID,
    StartUp,
    Up,
    alive,
    answers,
    deployments,
    ready,
    up_environment,
)

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PREFECT_HOME for the module, empty at first, as on a user's new machine: the first
    server start migrates it (the other modules' homes begin migrated)."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture
def up_env(prefect_home: Path, tmp_path: Path) -> dict[str, str]:
    return up_environment(prefect_home, f"sqlite:///{tmp_path / 'newswatch.db'}")


@pytest.fixture
def config(feed_server: FeedServer, tmp_path: Path) -> Path:
    serve_examples(feed_server)
    return write_config(tmp_path, feed_server, "json://127.0.0.1:9/never-sent")


# ---------------------------------------------------------------- the whole stack


@pytest.mark.prefect
def test_up_runs_server_deployments_and_worker_and_ctrl_c_stops_them_all(
    start_up: StartUp, up_env: dict[str, str], config: Path
) -> None:
    port = free_port()
    up = start_up(["--port", str(port), "--config", str(config)], up_env)

    up.wait_until(lambda: ready(up, port), START_TIMEOUT_S)
    found = deployments(port)
    # The config is outside the checkout: every deployment is told where it is.
    for name in DEPLOYMENTS:
        assert found[name]["parameters"]["config_path"] == str(config)  # type: ignore[index]
    assert len(up.seen) >= 2  # at least the server and the worker

    ctrl_c_stops_everything(up, port)


def ctrl_c_stops_everything(up: Up, port: int, signum: int = signal.SIGINT) -> None:
    """Ctrl-C (or systemd's SIGTERM): exit 0, a line per step in order, port closed, no process."""
    os.kill(up.process.pid, signum)
    code = up.wait_exit()

    output = up.output()
    assert code == 0, output
    assert not answers(port)
    assert [p for p in up.seen if alive(p)] == [], output
    assert "Traceback" not in output
    stops = [line for line in output.splitlines() if line.startswith("newswatch up: stop")]
    assert [line.split(" (pid")[0] for line in stops] == [
        "newswatch up: stopping",
        "newswatch up: stopped the worker",
        "newswatch up: stopped the Prefect server",
    ]


@pytest.mark.prefect
@pytest.mark.postgres
def test_up_gives_its_server_a_postgresql_database_with_pg_trgm(
    start_up: StartUp, up_env: dict[str, str], config: Path, pg_url: str
) -> None:
    import psycopg

    port = free_port()
    args = ["--port", str(port), "--config", str(config), "--prefect-database-url", pg_url]
    up = start_up(args, up_env)

    up.wait_until(lambda: ready(up, port), START_TIMEOUT_S)
    assert "created the pg_trgm extension" in up.output()
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT count(*) FROM deployment").fetchone()
    assert row is not None
    assert row[0] >= len(DEPLOYMENTS)
    ctrl_c_stops_everything(up, port, signal.SIGTERM)  # what systemd sends


@pytest.mark.prefect
def test_up_reuses_a_running_server_and_replaces_a_worker_that_dies(
    start_up: StartUp, up_env: dict[str, str], config: Path, tmp_path: Path
) -> None:
    """Issue 25 finding 5: a dead worker took `up`, and with it the server, down for every
    worker of the pool. Now a new worker takes its place and the server keeps answering."""
    port = free_port()
    server_env = {**up_env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "0"}
    with (tmp_path / "server.log").open("wb") as out:
        server = subprocess.Popen(
            [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(port):
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(POLL_S)

        up = start_up(["--port", str(port), "--config", str(config)], up_env)
        up.wait_until(lambda: ready(up, port), START_TIMEOUT_S)
        first = re.search(WORKER_PID, up.output())
        assert first, up.output()
        os.killpg(int(first.group(1)), signal.SIGKILL)

        def replaced() -> bool:
            pids = re.findall(WORKER_PID, up.output())
            return len(pids) == 2 and up.output().count("Worker '") >= 2 and ready(up, port)

        up.wait_until(replaced, START_TIMEOUT_S)
        output = up.output()
        assert (
            "the worker exited unexpectedly (killed by SIGKILL); starting a new one "
            "(the server keeps running)" in output
        )
        assert answers(port)
        os.kill(up.process.pid, signal.SIGTERM)
        code = up.wait_exit()

        output = up.output()
        assert code == 0, output
        assert "reusing the Prefect server" in output
        assert "Traceback" not in output
        assert "stopped the Prefect server" not in output
        assert answers(port)  # not ours to stop
        assert [p for p in up.seen if alive(p)] == [], output
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# ---------------------------------------------------------------- mistakes, one line each


def run_up(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSWATCH), "up", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unreachable_postgresql_is_one_line_without_the_password() -> None:
    port = free_port()
    url = f"postgresql+asyncpg://postgres:s3cret@127.0.0.1:{port}/prefect"
    with pytest.raises(ServiceError) as caught:
        ensure_pg_trgm(url, timeout=5)
    message = str(caught.value)
    assert message.startswith(
        f"cannot reach the Prefect database postgresql+asyncpg://postgres:***@127.0.0.1:{port}/"
    )
    assert "s3cret" not in message
    assert "\n" not in message


def test_up_with_an_unreachable_postgresql_says_so_and_starts_nothing(
    up_env: dict[str, str], config: Path
) -> None:
    port, db_port = free_port(), free_port()
    db_url = f"postgresql://postgres:s3cret@127.0.0.1:{db_port}/prefect"
    result = run_up(
        ["--port", str(port), "--config", str(config), "--prefect-database-url", db_url], up_env
    )
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(
        "error: cannot reach the Prefect database "
        f"postgresql+asyncpg://postgres:***@127.0.0.1:{db_port}/prefect: "
    )
    assert "s3cret" not in result.stdout + result.stderr
    assert "starting the Prefect server" not in result.stdout
    assert not answers(port)


def test_a_port_taken_by_something_else_is_a_clear_error(
    up_env: dict[str, str], config: Path, feed_server: FeedServer
) -> None:
    result = run_up(["--port", str(feed_server.port), "--config", str(config)], up_env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: port {feed_server.port} on 127.0.0.1 answers, but not as a Prefect server; "
        "choose another --port"
    )


def test_prefect_database_urls_get_the_async_drivers_and_others_are_refused() -> None:
    assert prefect_database_url("postgresql://u:p@db/prefect") == (
        "postgresql+asyncpg://u:p@db/prefect"
    )
    assert prefect_database_url("postgresql+psycopg://u@db/prefect") == (
        "postgresql+asyncpg://u@db/prefect"
    )
    assert prefect_database_url("sqlite:////var/lib/prefect.db") == (
        "sqlite+aiosqlite:////var/lib/prefect.db"
    )
    with pytest.raises(ServiceError, match="PostgreSQL or SQLite, not 'mysql'") as caught:
        prefect_database_url("mysql://u:hidden@db/prefect")
    assert "hidden" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_config_outside_the_checkout_is_written_into_each_deployment(tmp_path: Path) -> None:
    elsewhere = tmp_path / "watch.yaml"
    derived = deploy_file(ROOT, elsewhere, tmp_path)
    text = derived.read_text(encoding="utf-8")
    assert derived != ROOT / "prefect.yaml"
    assert text.count(f"config_path: {elsewhere}") >= len(DEPLOYMENTS)
    assert "{{ $PWD }}" in text  # the pull step still resolves at deploy time
    assert deploy_file(ROOT, ROOT / "newswatch.yaml", tmp_path) == ROOT / "prefect.yaml"


@pytest.mark.postgres
def test_pg_trgm_is_created_once_in_a_fresh_prefect_database(pg_url: str) -> None:
    url = prefect_database_url(pg_url)
    assert ensure_pg_trgm(url) is True
    assert ensure_pg_trgm(url) is False


def test_children_see_our_server_the_quiet_defaults_and_the_newswatch_settings() -> None:
    env = child_environment(
        {"PREFECT_UI_ENABLED": "true", "PREFECT_SERVER_API_AUTH_STRING": "admin:pw"},
        url="http://127.0.0.1:4300/api",
        project_dir=ROOT,
        newswatch_env={"NEWSWATCH_CONFIG": "/etc/newswatch/newswatch.yaml"},
    )
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4300/api"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["PREFECT_UI_ENABLED"] == "true"  # an explicit setting wins
    assert env["PREFECT_API_AUTH_STRING"] == "admin:pw"  # clients of a protected server
    assert env["NEWSWATCH_CONFIG"] == "/etc/newswatch/newswatch.yaml"
    assert env["PWD"] == str(ROOT)  # prefect.yaml's pull step reads {{ $PWD }}
