"""prefect.yaml says what the README promises: a scheduled, non-overlapping monitor."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def deployment(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (found,) = [d for d in data["deployments"] if d["name"] == name]
    return dict(found)


def test_monitor_runs_every_ten_minutes_one_at_a_time_on_a_process_pool() -> None:
    monitor = deployment("monitor")
    assert monitor["schedules"][0]["interval"] == 600
    assert monitor["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    assert monitor["work_pool"]["name"] == "newswatch"
    assert monitor["enforce_parameter_schema"] is True


def test_manual_monitor_runs_poll_every_feed_and_scheduled_runs_only_the_due_ones() -> None:
    """Issue 15: `prefect deployment run 'monitor/monitor'` polled 0 feeds (none was due)."""
    monitor = deployment("monitor")
    assert monitor["parameters"]["due_only"] is False
    assert monitor["parameters"]["dry_run"] is False
    (schedule,) = monitor["schedules"]
    assert schedule["parameters"] == {"due_only": True}


def test_the_monitor_schedule_has_a_fixed_anchor_so_redeploying_keeps_its_times() -> None:
    """Issue 16: each deploy restarted the interval from the moment of deploying."""
    (schedule,) = deployment("monitor")["schedules"]
    assert schedule["anchor_date"] == "2024-01-01T00:00:00+00:00"
    assert schedule["timezone"] == "UTC"


@pytest.mark.parametrize("name", ["monitor", "monitor-shard", "digest", "backtest", "prune"])
def test_entrypoints_and_parameters_match_the_flows(name: str) -> None:
    spec = deployment(name)
    module_path, func_name = spec["entrypoint"].split(":")
    module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, func_name)
    assert flow.name == name
    assert spec["enforce_parameter_schema"] is True
    assert set(spec["parameters"]) <= set(flow.parameters.properties)
    assert spec["work_pool"]["name"] == "newswatch"


def test_digest_is_scheduled_and_backtest_only_runs_by_hand() -> None:
    assert deployment("digest")["schedules"][0]["cron"] == "*/15 * * * *"
    assert "schedules" not in deployment("backtest")
    assert deployment("backtest")["parameters"]["notify"] is False


def test_shard_runs_have_their_own_unlimited_unscheduled_deployment() -> None:
    """monitor's limit (1, CANCEL_NEW) would cancel a fanned-out cycle's shard runs."""
    shard = deployment("monitor-shard")
    assert shard["entrypoint"] == "flows/monitor.py:monitor_shard"
    assert "schedules" not in shard
    assert "concurrency_limit" not in shard
    assert shard["work_pool"]["name"] == deployment("monitor")["work_pool"]["name"]


def test_monitor_fans_out_to_the_shard_deployment() -> None:
    from flows.fanout import SHARD_DEPLOYMENT
    from flows.monitor import monitor, monitor_shard

    assert f"{monitor_shard.name}/monitor-shard" == SHARD_DEPLOYMENT
    assert deployment("monitor")["parameters"]["shards"] == 1
    shards = monitor.parameters.properties["shards"]
    assert shards["default"] == 1
    assert set(monitor_shard.parameters.required or []) == {"shard", "shards"}


def test_prune_runs_daily_one_at_a_time_and_keeps_90_days() -> None:
    prune = deployment("prune")
    assert prune["entrypoint"] == "flows/prune.py:prune"
    assert prune["schedules"][0]["cron"] == "30 3 * * *"
    assert prune["parameters"] == {"older_than": "90d"}
    assert prune["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
