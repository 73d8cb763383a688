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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.examples import FEEDS, serve_examples, write_config
from tests.support.feedserver import FeedServer
from tests.support.prefect_template import seed
from tests.support.smtp import SmtpServer, free_port
from tests.support.up_stack import (
    FINAL,
    LAMMY,
    NEWSWATCH,
    PREFECT,
    QUICK,
    ROOT,
    START_TIMEOUT_S,
    WORKER_PID,
    StartUp,
    Up,
    api,
    assert_completed,
    deliveries,
    flow_run,
    flow_run_process,
    monitor_runs,
    online_workers,
    pause_schedule,
    pid_in_output,
    post,
    ready,
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
SERVER_PID = r"Prefect server ready \(pid (\d+)\)"
ENVOY = "[UK-China visits] UK envoy to visit China again in spring"
ENVOY_ITEM = (
    "<item><title>UK envoy to visit China again in spring</title>"
    "<link>https://harbourgazette.example/world/2024/10/19/envoy</link>"
    "<guid>hg-envoy</guid><description>Plans for a return trip.</description></item>\n"
)


@pytest.fixture
def newswatch_db(tmp_path: Path) -> Path:
    return tmp_path / "newswatch.db"


@pytest.fixture
def up_env(prefect_home: Path, newswatch_db: Path) -> dict[str, str]:
    return {**up_environment(prefect_home, f"sqlite:///{newswatch_db}"), **QUICK}


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


TICK = timedelta(minutes=1)
ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)  # prefect.yaml's anchor_date


def checkout_scheduled_every_minute(tmp_path: Path) -> Path:
    """The checkout as `up` deploys it, with the monitor's schedule at one minute (same anchor)."""
    project = tmp_path / "checkout"
    project.mkdir()
    for package in ("flows", "newswatch", "rules", "connectors"):
        (project / package).symlink_to(ROOT / package)
    data = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (monitor,) = [d for d in data["deployments"] if d["name"] == "monitor"]
    (schedule,) = monitor["schedules"]
    schedule["interval"] = int(TICK.total_seconds())
    (project / "prefect.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return project


def scheduled_runs(port: int) -> list[dict[str, Any]]:
    return [r for r in monitor_runs(port) if r["auto_scheduled"]]


def finished_scheduled_runs(port: int, after: datetime) -> list[dict[str, Any]]:
    return [
        r
        for r in scheduled_runs(port)
        if r["state_type"] in FINAL and datetime.fromisoformat(r["expected_start_time"]) > after
    ]


def runs_list(runs: list[dict[str, Any]]) -> str:
    """The runs as the UI's list shows them: when due, when started, the state's name."""
    return "\n".join(
        f"{r['expected_start_time'][11:19]}  started {str(r['start_time'])[11:19]}  "
        f"{r['state_name']:<12} {r['name']}"
        for r in runs
    )


@pytest.mark.timeout(900)
def test_a_one_minute_schedule_polls_every_feed_on_every_tick_across_a_restart(
    prefect_template: Path,
    newswatch_db: Path,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    """Issue 25 findings 1 and 2: each feed was polled on every other scheduled run only, and
    around a restart of `up` scheduled runs went missing or ended Cancelled ("Deployment
    concurrency limit reached"); issue 16 item 2: a restart moved the schedule's times.

    A real one-minute schedule ticks, `up` stays down for two ticks, and the schedule ticks
    twice more after it is back. The feeds ask for no TTL (the examples' `<ttl>10</ttl>` would
    rightly hold them for ten minutes).
    """
    serve_examples(feed_server)
    for path in FEEDS:
        route = feed_server.routes[path]
        route.body = route.body.replace(b"<ttl>10</ttl>", b"")
    config = write_config(tmp_path, feed_server, smtp_server.channel_url())
    with config.open("a", encoding="utf-8") as f:
        f.write("monitor:\n  poll_interval_minutes: 1\n")
    args = ["--port", str(free_port()), "--config", str(config)]
    port = port_of(args)
    # A Prefect home of its own: no run left by another test to start with.
    home = seed(tmp_path / "prefect", prefect_template)
    up_env = {**up_environment(home, f"sqlite:///{newswatch_db}"), **QUICK}
    began = datetime.now(UTC)
    with up_starter(tmp_path, checkout_scheduled_every_minute(tmp_path)) as start_up:
        up = start_ready(start_up, args, up_env)
        wait_for(lambda: finished_scheduled_runs(port, began), "a tick", 300)
        stop(up, signal.SIGTERM)
        down = datetime.now(UTC)
        missed = [down - (down - ANCHOR) % TICK + TICK * n for n in (1, 2)]
        wait_for(lambda: datetime.now(UTC) > missed[-1] + timedelta(seconds=5), "two ticks down")
        again = start_ready(start_up, args, up_env)
        back = datetime.now(UTC)
        wait_for(lambda: len(finished_scheduled_runs(port, back)) >= 2, "two more ticks", 300)
        runs = [r for r in scheduled_runs(port) if r["state_type"] != "SCHEDULED"]
        output = stop(again, signal.SIGTERM)

    shown = runs_list(runs)
    print(f"the monitor's scheduled runs:\n{shown}")
    assert [r for r in runs if r["state_type"] != "COMPLETED"] == [], shown  # none Cancelled
    due = [datetime.fromisoformat(r["expected_start_time"]) for r in runs]
    assert [(t - ANCHOR) % TICK for t in due] == [timedelta(0)] * len(due), shown  # the grid
    # Every tick has its one run but those missed while `up` was down: the next tick, due
    # within a minute of the restart, stood for them (a missed run started with the worker
    # would still have been running when that tick's run came, and been cancelled), and
    # `up` said so.
    ticks = [due[0] + TICK * n for n in range(int((due[-1] - due[0]) / TICK) + 1)]
    skipped = [t for t in ticks if t not in due]
    first_after = min(t for t in due if t > down)
    assert missed == skipped[:2], shown  # and a third if `up` took over 55 s to start
    assert all(down < t < first_after for t in skipped), shown
    said = ", ".join(f"{t:%H:%M}" for t in skipped)
    assert (
        f"skipped {len(skipped)} scheduled monitor run(s) missed while no worker ran ({said} "
        f"UTC): the run due at {first_after:%H:%M} UTC polls for them all"
    ) in output, output
    # Each run polled every feed (a 304 is a poll), but one that found nothing due: only a
    # run right after a late one, whose polls were not yet a minute old.
    polls = {path: len(feed_server.hits(path)) for path in FEEDS}
    polled = [r for r in runs if r["state_name"] != "Nothing due"]
    assert set(polls.values()) == {len(polled)}, (polls, shown)
    late = {
        i + 1
        for i, r in enumerate(runs)
        if datetime.fromisoformat(r["start_time"]) - due[i] > timedelta(seconds=15)
    }
    assert {i for i, r in enumerate(runs) if r not in polled} <= late, shown
    print(f"polls per feed over {len(runs)} runs: {polls}")


# ---------------------------------------------------------------- a process killed mid-run


def test_worker_killed_mid_run_a_new_worker_takes_over_and_the_next_run_alerts_once(
    start_up: StartUp,
    up_args: list[str],
    up_env: dict[str, str],
    newswatch_db: Path,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
) -> None:
    """Issue 25 finding 5: `up` ended with its worker, taking the server from every worker."""
    up, cut = run_in_flight(start_up, up_args, up_env, newswatch_db, feed_server)
    port = port_of(up_args)
    os.killpg(pid_in_output(up, WORKER_PID), signal.SIGKILL)

    up.wait_until(
        lambda: len(re.findall(WORKER_PID, up.output())) == 2 and ready(up, port), START_TIMEOUT_S
    )
    assert "the worker exited unexpectedly (killed by SIGKILL); starting a new one" in up.output()
    assert smtp_server.inbox.subjects() in ([], [LAMMY])
    ended = flow_run(port, cut["id"])
    # Its process, stopped by `up`, reports Crashed itself, or `up` forces Crashed.
    assert ended["state_type"] == "CRASHED", ended["state"]
    next_run_alerts_once(port, feed_server, smtp_server)
    stop(up)


def pool_workers(port: int) -> dict[str, dict[str, Any]]:
    """The pool's workers by name, as the server records them (status, heartbeat interval)."""
    return {w["name"]: w for w in post(port, "/work_pools/newswatch/workers/filter", {})}


def test_a_second_worker_keeps_its_server_when_up_s_worker_dies_and_a_dead_one_goes_offline(
    start_up: StartUp,
    up_args: list[str],
    up_env: dict[str, str],
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    """Issue 25 finding 5, in docs/deploy.md's layout of `up` plus other workers: `up`'s worker
    dying took the server down for the other worker too, and a killed worker stayed ONLINE
    for minutes."""
    up = start_ready(start_up, up_args, up_env)
    port = port_of(up_args)
    # A worker started as docs/deploy.md says (there on another machine).
    worker_env = {**up_env, "PREFECT_API_URL": api(port), "PREFECT_WORKER_HEARTBEAT_SECONDS": "10"}
    with (tmp_path / "second-worker.log").open("wb") as out:
        second = subprocess.Popen(
            [str(PREFECT), "worker", "start", "--pool", "newswatch", "--name", "second"],
            cwd=ROOT,
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "second" in online_workers(port), "second worker online")
        os.killpg(pid_in_output(up, WORKER_PID), signal.SIGKILL)
        up.wait_until(
            lambda: len(re.findall(WORKER_PID, up.output())) == 2 and ready(up, port),
            START_TIMEOUT_S,
        )
        assert second.poll() is None, (tmp_path / "second-worker.log").read_text()
        assert "second" in online_workers(port)

        pause_schedule(port)
        let_the_slow_feed_answer(feed_server)
        assert_completed(wait_final(port, trigger_monitor(port)))
        assert smtp_server.inbox.subjects() == [LAMMY]

        # Both heartbeats every 10 s: the server marks a silent worker OFFLINE after three.
        workers = pool_workers(port)
        assert {w["heartbeat_interval_seconds"] for w in workers.values()} == {10}, workers
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
        wait_for(lambda: pool_workers(port)["second"]["status"] == "OFFLINE", "second offline")
        stop(up)
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait()


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
