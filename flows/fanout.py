"""Shard runs as deployment runs: start one per shard, wait for them, read what they recorded.

Any worker of the pool may pick a shard run up, on any machine; the parent sees them only
through the Prefect server (their states and artifacts) and the shared database.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

SHARD_DEPLOYMENT = "monitor-shard/monitor-shard"
SHARD_TIMEOUT_S = 3600.0  # a shard's cycle takes minutes; an hour means something is stuck


@dataclass(frozen=True, slots=True)
class ShardRun:
    """How one shard's run ended (or did not), as the parent saw it."""

    shard: int
    flow_run_id: UUID
    name: str
    state: str
    completed: bool
    message: str | None = None

    def describe(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"shard {self.shard} (run {self.name!r}) ended {self.state}{detail}"


def start_shards(parameters: list[dict[str, Any]], *, key: str) -> list[FlowRun]:
    """Create one run of the shard deployment per parameter set, without waiting.

    The idempotency key (the parent's run id) means a retried parent finds its shard runs
    instead of starting a second set: no feed is polled twice in a cycle.
    """
    runs: list[FlowRun] = []
    for params in parameters:
        run = run_deployment(  # sync here: a flow run, not a coroutine
            SHARD_DEPLOYMENT,
            parameters=params,
            timeout=0,
            idempotency_key=f"{key}-shard-{params['shard']}-of-{params['shards']}",
        )
        runs.append(cast(FlowRun, run))
    return runs


def wait_for_shards(
    runs: list[FlowRun], *, timeout_s: float = SHARD_TIMEOUT_S, poll_s: float = 2.0
) -> list[ShardRun]:
    """Poll the server until every shard run is final or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    latest = {run.id: run for run in runs}
    with get_client(sync_client=True) as client:
        while True:
            for run_id, run in latest.items():
                if run.state is None or not run.state.is_final():
                    latest[run_id] = client.read_flow_run(run_id)
            if all(r.state is not None and r.state.is_final() for r in latest.values()):
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(poll_s)
    outcomes: list[ShardRun] = []
    for shard, run in enumerate(latest.values()):
        state = run.state
        name = (state.name if state else None) or "Pending"
        if state is not None and state.is_final():
            ended, message = name, state.message
        else:
            ended, message = "unfinished", f"still {name} after {timeout_s:.0f} s"
        outcomes.append(
            ShardRun(
                shard=int(run.parameters.get("shard", shard)),
                flow_run_id=run.id,
                name=run.name,
                state=ended,
                completed=bool(state and state.is_completed()),
                message=message,
            )
        )
    return outcomes


def shard_table_rows(runs: list[ShardRun], *, key: str) -> list[dict[str, Any]]:
    """The rows of the table artifacts with `key` that the shard runs created."""
    if not runs:
        return []
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[r.flow_run_id for r in runs])),
        )
    rows: list[dict[str, Any]] = []
    for artifact in artifacts:
        data = artifact.data
        if isinstance(data, str):
            data = json.loads(data)
        if isinstance(data, list):
            rows.extend(row for row in data if isinstance(row, dict))
    return rows
