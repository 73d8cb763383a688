"""The monitor flow run through Prefect (its test harness: a real temporary API server)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.exceptions import ObjectNotFound
from prefect.states import Failed
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from flows import fanout
from flows.hooks import alert_operator
from flows.monitor import ShardRunsFailed, monitor
from newswatch import cycle as orchestrator
from newswatch import models, run_summary, store
from newswatch.config import load_config
from newswatch.models import CycleReport, FeedReport
from newswatch.sharding import ShardError
from tests.support.examples import serve_examples, write_config
from tests.support.feedserver import FeedServer, Route
from tests.support.smtp import SmtpServer, free_port

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parent.parent
ENVOY_FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Continental Wire</title>
<link>https://continentalwire.example/</link><description>News</description>
<item><title>UK envoy to visit China in spring</title>
<link>https://continentalwire.example/world/2024/10/19/envoy</link>
<guid>cw-envoy</guid><description>Plans for a return trip.</description></item>
</channel></rss>
"""


async def _artifact_markdown(key: str) -> str:
    async with get_client() as client:
        artifact = await client.read_latest_artifacts()
        found = [a for a in artifact if a.key == key]
        assert found, f"no artifact with key {key}"
        return str(found[0].data)


def test_monitor_flow_alerts_once_and_records_a_summary(
    prefect_api: None,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_examples(feed_server)
    config = write_config(tmp_path, feed_server, smtp_server.channel_url())
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'nw.db'}")

    first = monitor(config_path=str(config))
    # as the schedule's runs do
    nothing_due = monitor(config_path=str(config), due_only=True, return_state=True)
    second = nothing_due.result()

    assert (first.new_articles, first.matches, first.delivery.sent) == (28, 1, 1)
    assert len(first.feeds) == 3
    # The second run comes before the feeds are due again: nothing polled, nothing sent,
    # and the run list says so (issue 25, finding 8).
    assert (second.new_articles, second.delivery.sent) == (0, 0)
    assert (nothing_due.is_completed(), nothing_due.name) == (True, "Nothing due")
    assert smtp_server.inbox.subjects() == [
        "[UK-China visits] Lammy visits Beijing as UK and China seek a reset"
    ]
    summary = asyncio.run(_artifact_markdown("monitor-summary"))
    assert "feeds polled: 0" in summary  # the latest run's
    assert "no feed was due: nothing polled" in summary
    assert "alerts sent: 0" in summary


def test_a_manual_run_polls_every_feed_even_those_not_due(
    prefect_api: None,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15: a run started by hand polled 0 feeds (none was due) and missed a new story."""
    serve_examples(feed_server)
    config = write_config(tmp_path, feed_server, smtp_server.channel_url())
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'nw.db'}")
    monitor(config_path=str(config))
    assert len(smtp_server.inbox.messages) == 1

    feed_server.routes["/continental-wire.xml"] = Route(
        body=ENVOY_FEED.encode("utf-8"), content_type="application/rss+xml"
    )
    scheduled = monitor(config_path=str(config), due_only=True)
    manual = monitor(config_path=str(config))

    assert len(scheduled.feeds) == 0  # nothing was due yet
    assert len(manual.feeds) == 3
    assert (manual.new_articles, manual.delivery.sent) == (1, 1)
    assert smtp_server.inbox.subjects()[-1] == "[UK-China visits] UK envoy to visit China in spring"


def test_a_run_whose_alerts_all_failed_ends_in_a_state_named_alerts_failed(
    prefect_api: None, feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: with the SMTP server down the run ended plain Completed, as if all was well."""
    serve_examples(feed_server)
    down = f"mailto://127.0.0.1:{free_port()}?from=nw@example.org&to=desk@example.org"
    config = write_config(tmp_path, feed_server, down)
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'nw.db'}")

    state = monitor(config_path=str(config), return_state=True)

    assert state.is_failed()  # a failure to the UI's badge and to automations (issue 25, 8)
    assert state.name == "Alerts failed"
    assert state.message is not None
    assert state.message.startswith("Alerts failed: 0 sent, 1 failed (retried by the next run)")
    assert "failing channels: desk-email;" in state.message
    report = state.result(raise_on_failure=False)  # the feeds were polled, the match stored
    assert isinstance(report, CycleReport)
    assert (report.matches, report.delivery.sent, report.delivery.failed) == (1, 0, 1)


def test_monitor_flow_dry_run_sends_nothing(
    prefect_api: None,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_examples(feed_server)
    config = write_config(tmp_path, feed_server, smtp_server.channel_url())
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'nw.db'}")

    report = monitor(config_path=str(config), dry_run=True)

    assert report.matches == 1
    assert report.delivery.sent == 0
    assert smtp_server.inbox.messages == []


def test_monitor_flow_sends_to_a_channel_kept_in_a_secret_block(
    prefect_api: None,
    feed_server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.blocks.system import Secret

    from tests.support.webhook import running_receiver

    serve_examples(feed_server)
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'nw.db'}")
    with running_receiver() as receiver:
        Secret(value=receiver.json_url("/from-secret")).save("desk-hook-url", overwrite=True)
        config = write_config(tmp_path, feed_server, "json://placeholder")
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("    url: 'json://placeholder'", "    secret_block: desk-hook-url"),
            encoding="utf-8",
        )

        report = monitor(config_path=str(config))

        assert report.delivery.sent == 1
        (posted,) = receiver.accepted()
        assert posted.path == "/from-secret"
        assert posted.payload["title"].endswith("Lammy visits Beijing as UK and China seek a reset")


# --- run history ------------------------------------------------------------------------

LAMMY_LINK = "https://harbourgazette.example/world/2024/10/18/lammy-beijing-visit"


async def _artifact_data(key: str) -> Any:
    async with get_client() as client:
        found = [a for a in await client.read_latest_artifacts() if a.key == key]
        assert found, f"no artifact with key {key}"
        data = found[0].data
        return json.loads(data) if isinstance(data, str) and found[0].type == "table" else data


def test_monitor_run_records_its_matches_with_links_and_a_summary_per_rule(
    prefect_api: None,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_examples(feed_server)
    config = write_config(tmp_path, feed_server, smtp_server.channel_url())
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'nw.db'}")

    monitor(config_path=str(config))

    rows = asyncio.run(_artifact_data("monitor-matches"))
    assert rows == [
        {
            "rule": "uk-china-visit",
            "title": "Lammy visits Beijing as UK and China seek a reset",
            "outlet": "Harbour Gazette",
            "link": LAMMY_LINK,
            "published": "2024-10-18T09:00+00:00",
        }
    ]
    summary = asyncio.run(_artifact_data("monitor-summary"))
    assert "feeds polled: 3 (0 failed)" in summary
    assert "new articles: 28" in summary
    assert "alerts sent: 1, failed: 0" in summary
    assert "| uk-china-visit | 1 |" in summary
    slowest = summary.split("## Slowest feeds (top 5)", 1)[1]
    for name in ("Harbour Gazette", "Northern Ledger", "Continental Wire"):
        assert f"| {name} |" in slowest
    assert smtp_server.channel_url() not in summary  # channel URLs carry secrets
    feeds = asyncio.run(_artifact_data("monitor-feeds"))
    assert sorted(r["feed"] for r in feeds) == [
        "Continental Wire",
        "Harbour Gazette",
        "Northern Ledger",
    ]
    assert all(isinstance(r["seconds"], float) for r in feeds)


def test_the_summary_lists_the_five_slowest_feeds_slowest_first() -> None:
    report = CycleReport(
        feeds=[
            FeedReport(f"https://f{i}.example/rss", f"feed {i}", "200", True, elapsed_s=i / 10)
            for i in range(8)
        ]
    )
    report.feeds[3] = FeedReport(report.feeds[3].url, "feed 3", "HTTP 500", False, elapsed_s=0.3)

    text = run_summary.summary_markdown(run_summary.from_cycle(report))

    slowest = text.split("## Slowest feeds (top 5)", 1)[1].split("##", 1)[0]
    listed = [line.split("|")[1].strip() for line in slowest.strip().splitlines()[2:]]
    assert listed == ["feed 7", "feed 6", "feed 5", "feed 4", "feed 3"]
    assert "feeds polled: 8 (1 failed)" in text
    assert "| feed 3 | https://f3.example/rss | HTTP 500 |" in text.split("## Feed problems")[1]


def test_a_fanned_out_cycle_is_summarised_from_the_shared_database(
    feed_server: FeedServer, smtp_server: SmtpServer, tmp_path: Path, database_url: str
) -> None:
    """Shard runs on other machines cannot hand their reports back: the parent reads what
    they stored since the cycle began, and their recorded poll times."""
    serve_examples(feed_server)
    config = load_config(write_config(tmp_path, feed_server, smtp_server.channel_url()))
    engine = store.make_engine(database_url)
    before = models.utcnow()
    cycle = orchestrator.run_cycle(engine, config, environ={}, now=models.utcnow())
    rows = run_summary.feed_rows(run_summary.from_cycle(cycle))
    after = models.utcnow()

    with Session(engine) as session:
        polled = store.cycle_feeds(session, since=before, config_urls=[f.url for f in config.feeds])
        matches = store.cycle_matches(session, since=before, feed_ids=[f.id for f in polled])
        later = store.cycle_feeds(session, since=after)
    engine.dispose()
    summary = run_summary.from_store(
        polled,
        matches,
        timings=run_summary.timings_from_rows(rows),
        alerts_sent=cycle.delivery.sent,
        notes=["shard 0: Completed", "shard 1: Completed"],
    )

    assert later == []
    assert len(summary.feeds) == 3
    assert summary.new_articles == cycle.new_articles == 28
    assert summary.per_rule() == [("uk-china-visit", 1)]
    assert run_summary.match_rows(summary)[0]["link"] == LAMMY_LINK
    assert run_summary.match_rows(summary)[0]["outlet"] == "Harbour Gazette"
    timed = {f.url: f.elapsed_s for f in summary.feeds}
    assert timed == {f.url: round(f.elapsed_s, 3) for f in cycle.feeds}
    text = run_summary.summary_markdown(summary)
    assert "alerts sent: 1, failed: 0" in text
    assert "- shard 1: Completed" in text


# --- the operator hears about failed runs -----------------------------------------------

OPS_PATH = "/ops-s3cr3t-token-4242"


def _with_operator(config: Path, url: str) -> Path:
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text + f"  ops:\n    url: '{url}'\nmonitor:\n  operator_channel: ops\n", encoding="utf-8"
    )
    return config


def test_a_failed_monitor_run_alerts_the_operator_channel(
    prefect_api: None,
    feed_server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.webhook import running_receiver

    serve_examples(feed_server)
    # A directory is no database: the run fails as it prepares the schema.
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", f"sqlite:///{tmp_path}")
    with running_receiver() as receiver:
        config = write_config(tmp_path, feed_server, receiver.json_url("/desk"))
        _with_operator(config, receiver.json_url(OPS_PATH))

        with pytest.raises(OperationalError):
            monitor(config_path=str(config))

        (alert,) = receiver.accepted()
    assert alert.path == OPS_PATH
    assert alert.payload["title"].startswith("newswatch: monitor run '")
    assert alert.payload["title"].endswith("' failed")
    assert "ended Failed" in alert.payload["message"]
    assert "OperationalError" in alert.payload["message"]


def test_the_operator_alert_hides_secrets_and_the_hook_never_raises(
    prefect_api: None, feed_server: FeedServer, tmp_path: Path
) -> None:
    from tests.support.webhook import running_receiver

    run = FlowRun(flow_id=uuid4(), name="brave-otter", parameters={})
    with running_receiver() as receiver:
        ops_url = receiver.json_url(OPS_PATH)
        config = _with_operator(
            write_config(tmp_path, feed_server, "json://127.0.0.1:9/x"), ops_url
        )
        run.parameters["config_path"] = str(config)
        error = f"Flow run encountered an exception: cannot reach {ops_url}"
        leaky: State[Any] = Failed(message=error)

        alert_operator(monitor, run, leaky)
        # A config that cannot be loaded: nothing to alert, and no exception either.
        run.parameters["config_path"] = str(tmp_path / "missing.yaml")
        alert_operator(monitor, run, leaky)

        (alert,) = receiver.accepted()
    assert alert.payload["title"] == "newswatch: monitor run 'brave-otter' failed"
    assert "cannot reach ***" in alert.payload["message"]
    assert "s3cr3t" not in json.dumps(alert.payload)


# --- fan-out through real deployment runs -------------------------------------------------


@contextmanager
def served_shard_deployment(tmp_path: Path, database_url: str) -> Iterator[None]:
    """`monitor_shard.serve()` in its own process against the test's Prefect API: it
    registers the monitor-shard deployment and runs its flow runs, as a worker would."""
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "NEWSWATCH_DATABASE_URL": database_url,
    }
    log = (tmp_path / "serve.log").open("wb")
    code = "from flows.monitor import monitor_shard; monitor_shard.serve(name='monitor-shard')"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not asyncio.run(_deployment_exists(fanout.SHARD_DEPLOYMENT)):
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the shard deployment never appeared"
            time.sleep(0.5)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


async def _deployment_exists(name: str) -> bool:
    async with get_client() as client:
        try:
            await client.read_deployment_by_name(name)
        except ObjectNotFound:
            return False
        return True


def test_two_shard_runs_poll_every_feed_once_and_the_parent_alerts_once(
    prefect_api: None,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_examples(feed_server)
    config = write_config(tmp_path, feed_server, smtp_server.channel_url())
    database_url = f"sqlite:///{tmp_path / 'nw.db'}"
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", database_url)

    with served_shard_deployment(tmp_path, database_url):
        report = monitor(config_path=str(config), shards=2)

    assert {path: len(feed_server.hits(path)) for path in feed_server.routes} == dict.fromkeys(
        feed_server.routes, 1
    )
    # One alert for the story the three outlets carry. Which outlet's copy it names depends
    # on which shard stored the story first: the shards run at the same time.
    (subject,) = smtp_server.inbox.subjects()
    assert subject.startswith("[UK-China visits] ")
    assert (report.new_articles, report.matches, report.delivery.sent) == (28, 1, 1)
    summary = asyncio.run(_artifact_data("monitor-summary"))
    assert "# newswatch monitor run (2 shards)" in summary
    assert "feeds polled: 3 (0 failed)" in summary
    assert "- shard 0: Completed" in summary
    assert "- shard 1: Completed" in summary
    assert "| uk-china-visit | 1 |" in summary
    slowest = summary.split("## Slowest feeds (top 5)", 1)[1]
    assert slowest.count("| 200") == 3  # each feed with the poll time its shard recorded
    (row,) = asyncio.run(_artifact_data("monitor-matches"))
    assert row["rule"] == "uk-china-visit"
    assert row["link"].startswith("https://")
    assert row["title"] in subject


def test_a_failed_shard_still_lets_the_parent_deliver_then_fail_naming_it(
    prefect_api: None,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.webhook import running_receiver

    serve_examples(feed_server)
    database_url = f"sqlite:///{tmp_path / 'nw.db'}"
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", database_url)
    with running_receiver() as receiver:
        config_path = _with_operator(
            write_config(tmp_path, feed_server, smtp_server.channel_url()),
            receiver.json_url(OPS_PATH),
        )
        # An earlier cycle stored the Lammy match; its alert is still in the outbox.
        config = load_config(config_path)
        engine = store.make_engine(database_url)
        plan = orchestrator.plan(engine, config, now=models.utcnow())
        orchestrator.poll_batch(plan, plan.targets, engine=engine)
        engine.dispose()

        # The shards' machine has no usable database: every shard run fails.
        with (
            served_shard_deployment(tmp_path, f"sqlite:///{tmp_path}"),
            pytest.raises(ShardRunsFailed) as failed,
        ):
            monitor(config_path=str(config_path), shards=2, due_only=False)

        titles = [r.payload["title"] for r in receiver.accepted()]
        parent = [r.payload for r in receiver.accepted() if "monitor run" in r.payload["title"]]

    assert smtp_server.inbox.subjects() == [
        "[UK-China visits] Lammy visits Beijing as UK and China seek a reset"
    ]
    assert "shard 0 (run '" in str(failed.value)
    assert "shard 1 (run '" in str(failed.value)
    assert "ended Failed" in str(failed.value)
    summary = asyncio.run(_artifact_data("monitor-summary"))
    assert "alerts sent: 1, failed: 0" in summary
    assert "shard 0 (run '" in summary
    assert "shard 1 (run '" in summary
    # The operator hears from each failed shard run and from the monitor run itself.
    assert sum("monitor-shard run" in t for t in titles) == 2
    (parent_alert,) = parent
    assert "shard 0 (run '" in parent_alert["message"]
    assert "shard 1 (run '" in parent_alert["message"]


def test_a_fanned_out_dry_run_is_summarised_from_the_shards_feed_tables() -> None:
    """A dry run's shards store nothing: their feed tables are what the parent can read."""
    shard_report = CycleReport(
        feeds=[
            FeedReport("https://a.example/rss", "Alpha", "200, 10 entries", True, 4, 1, 0.25),
            FeedReport("https://b.example/rss", "Beta", "HTTP 503", False, elapsed_s=1.5),
        ],
        dry_run=True,
    )
    rows = json.loads(json.dumps(run_summary.feed_rows(run_summary.from_cycle(shard_report))))

    summary = run_summary.from_feed_rows(rows, title="newswatch monitor run (2 shards)")

    text = run_summary.summary_markdown(summary)
    assert "(dry run: nothing stored or sent)" in text
    assert "feeds polled: 2 (1 failed)" in text
    assert "new articles: 4" in text
    assert [f.name for f in summary.slowest()] == ["Beta", "Alpha"]


def test_an_impossible_shard_count_fails_the_run_with_one_line(prefect_api: None) -> None:
    with pytest.raises(ShardError, match=r"^shards must be at least 1, got 0$"):
        monitor(shards=0)
