"""Flow runs left in flight by a worker that is gone, and ending them so their slot is free;
scheduled runs whose time passed while no worker ran, and keeping only the newest.

A monitor run holds the monitor deployment's one concurrency slot from Pending until it
ends. Prefect 3.9 keeps that slot's lease in the server's memory: a run whose process died
(with `up` stopped, or the server restarted) stays Running for good, and every later run is
Cancelled with "Deployment concurrency limit reached". Forcing the run into a final state
releases the slot (Prefect's ReleaseFlowConcurrencySlots runs on forced transitions too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx

WORKER_LABEL = "prefect.worker.name"  # the label a Prefect worker puts on each run it starts
IN_FLIGHT = ("PENDING", "RUNNING", "CANCELLING")  # the states that hold a deployment's slot
# A missed run kept while the schedule's next run is due this soon would still be running
# when the worker takes that one (it takes runs a few seconds before they are due), and the
# concurrency limit (1, CANCEL_NEW) would cancel it: the next run stands for the missed ones.
NEXT_RUN_SOON: Final = timedelta(seconds=60)


@dataclass(frozen=True)
class InFlightRun:
    """A flow run of the pool in a state that holds its deployment's concurrency slot."""

    id: str
    name: str
    state: str
    worker: str | None  # None before a worker has taken it

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> InFlightRun:
        labels = data.get("labels") or {}
        worker = labels.get(WORKER_LABEL)
        return cls(
            id=str(data["id"]),
            name=str(data.get("name")),
            state=str(data.get("state_name") or data.get("state_type")),
            worker=str(worker) if worker else None,
        )


def orphaned_runs(
    runs: Iterable[InFlightRun], *, own_worker: str, online_workers: Iterable[str]
) -> list[InFlightRun]:
    """The runs no live worker will finish, seen from the worker about to (re)start.

    Ours (a run of our worker's name: that process is gone, we are starting it anew), a
    run of a worker that is not online, and a run no worker has taken while no other
    worker is online. Runs of another live worker are left alone.
    """
    others = set(online_workers) - {own_worker}
    return [
        run
        for run in runs
        if run.worker == own_worker
        or (run.worker is not None and run.worker not in others)
        or (run.worker is None and not others)
    ]


def gone_workers(
    runs: Iterable[InFlightRun], *, own_worker: str, online_workers: Iterable[str]
) -> set[str]:
    """The other workers that hold runs in flight while the server no longer sees them online."""
    online = set(online_workers)
    return {
        run.worker
        for run in runs
        if run.worker is not None and run.worker != own_worker and run.worker not in online
    }


@dataclass(frozen=True)
class ScheduledRun:
    """A schedule's run still waiting for a worker: missed, or due soon."""

    id: str
    deployment: str
    expected_start: datetime


def runs_to_skip(missed: Iterable[ScheduledRun]) -> list[ScheduledRun]:
    """All but each deployment's newest run, oldest first.

    A worker that starts finds every missed run due at once; the monitor's concurrency
    limit (1, CANCEL_NEW) would start one and cancel the rest. One run per deployment polls
    every feed that became due meanwhile, so the newest stands for them all.
    """
    runs = sorted(missed, key=lambda r: r.expected_start)
    newest = {run.deployment: run for run in runs}  # the last one of each wins
    return [run for run in runs if newest[run.deployment] != run]


class PrefectApi:
    """The few calls of the Prefect server's REST API that `newswatch up` makes."""

    def __init__(self, url: str, auth_string: str | None = None, timeout: float = 10.0) -> None:
        user, _, password = (auth_string or "").partition(":")
        self.url = url
        self.client = httpx.Client(
            base_url=url,
            timeout=timeout,
            auth=httpx.BasicAuth(user, password) if auth_string else None,
        )

    def close(self) -> None:
        self.client.close()

    def work_pool(self, pool: str) -> httpx.Response:
        return self.client.get(f"/work_pools/{pool}")

    def online_workers(self, pool: str) -> set[str]:
        response = self.client.post(f"/work_pools/{pool}/workers/filter", json={})
        if response.status_code == 404:
            return set()
        response.raise_for_status()
        return {w["name"] for w in response.json() if w.get("status") == "ONLINE"}

    def forget_worker(self, pool: str, name: str) -> None:
        """Remove a worker that is gone from the pool, so no one reads it as ONLINE."""
        self._delete(f"/work_pools/{pool}/workers/{name}")

    def in_flight_runs(self, pool: str) -> list[InFlightRun]:
        body = {
            "flow_runs": {"state": {"type": {"any_": list(IN_FLIGHT)}}},
            "work_pools": {"name": {"any_": [pool]}},
            "limit": 200,
        }
        return [InFlightRun.from_api(run) for run in self._post_list("/flow_runs/filter", body)]

    def scheduled_runs(self, pool: str, *, before: str) -> list[ScheduledRun]:
        """The pool's schedule-made runs still Scheduled whose start time is before `before`."""
        in_pool = {"work_pools": {"name": {"any_": [pool]}}}
        names = {d["id"]: str(d["name"]) for d in self._post_list("/deployments/filter", in_pool)}
        body = {
            "flow_runs": {
                "state": {"type": {"any_": ["SCHEDULED"]}},
                "expected_start_time": {"before_": before},
            },
            **in_pool,
            "limit": 200,
        }
        return [
            ScheduledRun(
                id=str(r["id"]),
                deployment=names.get(r["deployment_id"], "?"),
                expected_start=datetime.fromisoformat(r["expected_start_time"]),
            )
            for r in self._post_list("/flow_runs/filter", body)
            if r.get("auto_scheduled") and r.get("deployment_id")
        ]

    def delete_run(self, run_id: str) -> None:
        self._delete(f"/flow_runs/{run_id}")

    def _delete(self, path: str) -> None:
        """Delete what path names; already gone is as good."""
        response = self.client.delete(path)
        if response.status_code != 404:
            response.raise_for_status()

    def _post_list(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.client.post(path, json=body)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def end_run(self, run: InFlightRun, *, state_type: str, message: str) -> None:
        """Force the run into a final state: that releases its concurrency slot."""
        name = state_type.capitalize()
        body = {"state": {"type": state_type, "name": name, "message": message}, "force": True}
        response = self.client.post(f"/flow_runs/{run.id}/set_state", json=body)
        response.raise_for_status()


# ---------------------------------------------------------------- what `up` does with them

Say = Callable[[str], None]


def end_orphaned_runs(
    api: PrefectApi, pool: str, *, own_worker: str, state_type: str, why: str, verb: str, say: Say
) -> None:
    """Force the pool's runs that no live worker will finish into a final state.

    One line each. Their concurrency slot is free again; what a monitor run stored
    before it stopped is delivered by the next run (the outbox keeps it).
    """
    online = api.online_workers(pool)
    runs = api.in_flight_runs(pool)
    for run in orphaned_runs(runs, own_worker=own_worker, online_workers=online):
        _end(api, run, state_type=state_type, why=why, verb=verb, say=say)


def _end(
    api: PrefectApi, run: InFlightRun, *, state_type: str, why: str, verb: str, say: Say
) -> None:
    """End one run in a final state, and say so in one line."""
    api.end_run(run, state_type=state_type, message=f"ended: {why}")
    say(f"{verb} flow run {run.name!r} ({run.id}), left {run.state}: {why}")


def end_runs_of_gone_workers(
    api: PrefectApi, pool: str, *, own_worker: str, seen_gone: set[str], say: Say
) -> set[str]:
    """End Crashed the runs of other workers found offline in this scan and the last one.

    A worker on another machine that dies leaves its run Running, holding the monitor's
    one slot: every scheduled run after it would be Cancelled until someone ended it.
    Two scans apart, a worker whose heartbeat was merely late is not taken for gone.
    Returns the workers found gone now; a server that does not answer skips the scan.
    """
    try:
        online = api.online_workers(pool)
        runs = api.in_flight_runs(pool)
        gone = gone_workers(runs, own_worker=own_worker, online_workers=online)
        for run in runs:
            if run.worker in gone & seen_gone:
                why = f"its worker {run.worker!r} went offline"
                _end(api, run, state_type="CRASHED", why=why, verb="crashed", say=say)
    except httpx.HTTPError:
        return seen_gone
    return gone


def skip_missed_runs(api: PrefectApi, pool: str, *, now: datetime, say: Say) -> None:
    """Of the schedule's runs missed while no worker ran, leave each deployment's newest,
    or its next run when that is due within NEXT_RUN_SOON.

    The one left starts with the worker (or on time) and polls every feed that came due
    meanwhile; the others are deleted (they never ran), one line saying which.
    """
    runs = api.scheduled_runs(pool, before=(now + NEXT_RUN_SOON).isoformat())
    skipped = runs_to_skip(runs)
    for run in skipped:
        api.delete_run(run.id)
    kept = {run.deployment: run for run in runs if run not in skipped}
    for deployment in sorted({r.deployment for r in skipped}):
        times = [f"{r.expected_start:%H:%M}" for r in skipped if r.deployment == deployment]
        stands = kept[deployment]
        which = "now" if stands.expected_start <= now else f"at {stands.expected_start:%H:%M} UTC"
        say(
            f"skipped {len(times)} scheduled {deployment} run(s) missed while no worker "
            f"ran ({', '.join(times)} UTC): the run due {which} polls for them all"
        )
