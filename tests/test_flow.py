"""The monitor flow run through Prefect (its test harness: a real temporary API server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from flows.monitor import monitor
from tests.support.feedserver import FeedServer
from tests.support.smtp import SmtpServer
from tests.test_pipeline import serve_examples, write_config

pytestmark = pytest.mark.prefect


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
    second = monitor(config_path=str(config))

    assert (first.new_articles, first.matches, first.delivery.sent) == (28, 1, 1)
    assert len(first.feeds) == 3
    # The second run comes before the feeds are due again: nothing polled, nothing sent.
    assert (second.new_articles, second.delivery.sent) == (0, 0)
    assert smtp_server.inbox.subjects() == [
        "[UK-China visits] Lammy visits Beijing as UK and China seek a reset"
    ]
    summary = asyncio.run(_artifact_markdown("monitor-summary"))
    assert "feeds polled: 0" in summary  # the latest run's
    assert "alerts sent: 0" in summary


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
