"""`newswatch up` stopped and started again, as an operator does (issue 16 items 1 and 2, issue 15
item 1): a run in flight at the stop never blocks the later runs, the schedule keeps its times,
and the README's trigger commands work verbatim from a second terminal.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    assert_completed,
    deliveries,
    flow_run,
    monitor_runs,
    pause_schedule,
    post,
    ready,
    scheduled_times,
    start_next_scheduled_run,
    stop,
    up_environment,
    up_starter,
    wait_final,
    wait_for,
)

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(600)]

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
    assert [(r["state_type"], r["parameters"]["config_path"]) for r in by_hand] == [
        ("COMPLETED", str(config))
    ]
    assert smtp_server.inbox.subjects() == [LAMMY, ENVOY]
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
