"""Backtests over stored articles: what a rule would have matched, sending nothing by default."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.backtest import BacktestError, parse_when, run_backtest
from newswatch.config import load_config
from tests.support.alerts_data import NOW, make_config, seed
from tests.support.webhook import WebhookReceiver, running_receiver


def stored(engine: Engine, tmp_path: Path, receiver: WebhookReceiver) -> Path:
    """Three stored articles (two match), their live alerts already sent."""
    config = make_config(tmp_path, {"hook": f"url: {receiver.json_url()}"})
    seed(engine, config, ["UK to visit China", "UK minister visits China", "Storm warning"])
    return tmp_path / "newswatch.yaml"


def test_a_new_rule_backtested_finds_old_articles_and_sends_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    with running_receiver() as receiver:
        path = stored(engine, tmp_path, receiver)
        config = load_config(path, environ={})
        report = run_backtest(
            engine,
            config,
            now=NOW,
            query='"minister visits" OR storm',
            since=NOW - timedelta(days=1),
            until=NOW + timedelta(minutes=1),
        )
        assert receiver.received == []
    assert report.scanned == 3
    assert sorted(h.title for h in report.hits) == ["Storm warning", "UK minister visits China"]


def test_the_time_window_limits_what_is_scanned(engine: Engine, tmp_path: Path) -> None:
    with running_receiver() as receiver:
        config = load_config(stored(engine, tmp_path, receiver), environ={})
    report = run_backtest(
        engine,
        config,
        now=NOW,
        rule_id="uk-china-visit",
        since=NOW + timedelta(hours=1),
        until=NOW + timedelta(hours=2),
    )
    assert (report.scanned, report.hits) == (0, [])


def test_notify_queues_only_matches_not_alerted_before(engine: Engine, tmp_path: Path) -> None:
    with running_receiver() as receiver:
        config = load_config(stored(engine, tmp_path, receiver), environ={})
        report = run_backtest(
            engine,
            config,
            now=NOW,
            rule_id="uk-china-visit",
            since=NOW - timedelta(days=1),
            until=NOW + timedelta(minutes=1),
            notify=True,
        )
    # Both hits were matched live already: nothing new to store or send.
    assert len(report.hits) == 2
    assert (report.matches_stored, report.alerts_queued) == (0, 0)
    with Session(engine) as s:
        assert len(store.deliveries(s)) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule_id": "nope"}, "no rule 'nope' in the config"),
        ({"query": "(UK AND"}, "column"),
        ({"query": "UK", "notify": True}, "--notify needs a rule id"),
        ({}, "give a rule id or a query"),
    ],
)
def test_mistakes_get_a_clear_message(
    engine: Engine, tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    config = make_config(tmp_path, {"hook": "url: json://127.0.0.1:9/hook"})
    with pytest.raises(BacktestError) as info:
        run_backtest(engine, config, since=NOW, until=NOW, now=NOW, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_parse_when_reads_relative_and_absolute_times() -> None:
    assert parse_when("7d", now=NOW) == NOW - timedelta(days=7)
    assert parse_when("90m", now=NOW) == NOW - timedelta(minutes=90)
    assert parse_when("2024-10-01", now=NOW).isoformat() == "2024-10-01T00:00:00+00:00"
    with pytest.raises(BacktestError, match="cannot read the time 'last week'"):
        parse_when("last week", now=NOW)


def test_backtest_cli_prints_matches_and_exits_2_on_mistakes(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with running_receiver() as receiver:
        stored(engine, tmp_path, receiver)
        env = {**os.environ, "NEWSWATCH_DATABASE_URL": database_url}
        run = [sys.executable, "-m", "flows.cli", "backtest"]
        ok = subprocess.run(
            [*run, "uk-china-visit", "--since", "2024-10-01", "--config", "newswatch.yaml"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        bad = subprocess.run(
            [*run, "uk-china-visit", "--since", "yesterday-ish", "--config", "newswatch.yaml"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert receiver.received == []
    assert ok.returncode == 0, ok.stderr
    assert "UK minister visits China" in ok.stdout
    assert "backtest uk-china-visit: 2 matches in 3 stored articles" in ok.stdout
    assert bad.returncode == 2
    assert "cannot read the time 'yesterday-ish'" in bad.stderr
    assert "Traceback" not in bad.stderr
