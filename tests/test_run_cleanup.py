"""Which runs `newswatch up` ends, and the worker name it gives the pool (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flows.run_cleanup import InFlightRun, ScheduledRun, gone_workers, orphaned_runs, runs_to_skip
from flows.up import worker_name

OURS = "newswatch-host-1a2b3c4d"


def run(name: str, worker: str | None, state: str = "Running") -> InFlightRun:
    return InFlightRun(id=f"id-{name}", name=name, state=state, worker=worker)


def test_runs_of_our_gone_worker_and_of_offline_workers_are_ended_others_are_left() -> None:
    runs = [
        run("ours", OURS),
        run("ours-cancelling", OURS, "Cancelling"),
        run("offline-worker", "ProcessWorker 0f3c"),
        run("live-elsewhere", "worker-2"),
        run("not-taken", None, "Pending"),
    ]
    ended = orphaned_runs(runs, own_worker=OURS, online_workers={"worker-2", OURS})
    # A Pending run no worker has named yet may be worker-2's, which is alive.
    assert [r.name for r in ended] == ["ours", "ours-cancelling", "offline-worker"]


def test_with_no_other_live_worker_a_run_nobody_took_is_ended_too() -> None:
    runs = [run("not-taken", None, "Pending"), run("ours", OURS)]
    ended = orphaned_runs(runs, own_worker=OURS, online_workers={OURS})
    assert [r.name for r in ended] == ["not-taken", "ours"]


def test_while_up_runs_only_other_workers_no_longer_online_count_as_gone() -> None:
    """Issue 25 finding 5: a dead worker elsewhere held the monitor's slot until a restart."""
    runs = [
        run("ours", OURS),  # our worker is alive: `up` watches its process
        run("dead-elsewhere", "worker-3"),
        run("live-elsewhere", "worker-2"),
        run("not-taken", None, "Pending"),
    ]
    gone = gone_workers(runs, own_worker=OURS, online_workers={"worker-2"})
    assert gone == {"worker-3"}


def test_of_the_runs_missed_while_up_was_down_each_deployment_keeps_its_newest() -> None:
    """Issue 25 finding 2: a worker starting after downtime started every missed run at once,
    and the monitor's concurrency limit cancelled all but one."""

    def missed(deployment: str, hour: int, minute: int) -> ScheduledRun:
        at = datetime(2024, 10, 18, hour, minute, tzinfo=UTC)
        return ScheduledRun(
            id=f"{deployment}-{hour}:{minute}", deployment=deployment, expected_start=at
        )

    runs = [
        missed("monitor", 11, 20),
        missed("digest", 11, 15),
        missed("monitor", 11, 40),
        missed("monitor", 11, 30),
        missed("digest", 11, 30),
    ]
    skipped = runs_to_skip(runs)
    assert [r.id for r in skipped] == ["digest-11:15", "monitor-11:20", "monitor-11:30"]
    assert runs_to_skip([missed("monitor", 11, 40)]) == []


def test_the_worker_name_is_stable_per_host_and_checkout() -> None:
    here = Path(__file__).resolve().parent.parent
    assert worker_name(here, "host-a") == worker_name(here, "host-a")
    assert worker_name(here, "host-a") != worker_name(here, "host-b")
    assert worker_name(here, "host-a") != worker_name(here / "tests", "host-a")
    assert worker_name(here, "host-a").startswith("newswatch-host-a-")


def test_a_run_read_from_the_api_knows_its_worker_from_the_label_the_worker_set() -> None:
    data = {
        "id": "6f1c",
        "name": "happy-tortoise",
        "state_name": "Running",
        "labels": {"prefect.worker.name": OURS, "prefect.worker.type": "process"},
    }
    assert InFlightRun.from_api(data) == InFlightRun("6f1c", "happy-tortoise", "Running", OURS)
    assert InFlightRun.from_api({**data, "labels": {}}).worker is None
