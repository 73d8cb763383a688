"""End to end through real Prefect processes, as a user runs newswatch in production.

A `prefect server start` (its database on SQLite or PostgreSQL), the deployments of this
checkout's prefect.yaml, process workers, and `prefect deployment run 'monitor/monitor'`
against the local feed server; the alert must arrive at a real SMTP server, once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.examples import EXAMPLES, FEEDS, serve_examples, write_config
from tests.support.feedserver import FeedServer, Route
from tests.support.postgres import PG_ADMIN_URL, postgres_or_skip
from tests.support.prefect_processes import (
    ROOT,
    PrefectStack,
    prefect_postgres_database,
    prefect_stack,
    started_by,
)
from tests.support.prefect_template import seed_database
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(480)]

LAMMY = "[UK-China visits] Lammy visits Beijing as UK and China seek a reset"
LAMMY_LINK = "https://harbourgazette.example/world/2024/10/18/lammy-beijing-visit"
ENVOY_LINK = "https://continentalwire.example/world/2024/10/19/envoy"
ENVOY_ITEM = (
    "<item><title>UK envoy to visit China again in spring</title>"
    f"<link>{ENVOY_LINK}</link>"
    "<guid>cw-envoy-{copy}</guid><description>Plans for a return trip.</description></item>\n"
)


@pytest.fixture
def prefect_pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the Prefect server itself (asyncpg URL)."""
    postgres_or_skip()
    with prefect_postgres_database(PG_ADMIN_URL) as url:
        yield url


def artifact_markdown(stack: PrefectStack, flow_run_id: str, key: str) -> str:
    artifacts = stack.api(
        "POST",
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": [key]}}},
    )
    assert artifacts, f"flow run {flow_run_id} left no {key} artifact"
    return str(artifacts[0]["data"])


def assert_completed(run: dict[str, Any]) -> None:
    assert run["state_type"] == "COMPLETED", (
        f"flow run {run['name']} ended {run['state_name']}: {run['state'].get('message')}"
    )


def assert_each_feed_polled_once(feed_server: FeedServer) -> None:
    polls = {path: len(feed_server.hits(path)) for path in feed_server.routes}
    assert polls == dict.fromkeys(feed_server.routes, 1)


def alerted_stories(smtp_server: SmtpServer) -> list[str]:
    """The story of every alert received, one per message, sorted: its link without the
    query and fragment by which syndicated copies differ (`#syndicated`, `utm_*`)."""
    stories = []
    for message in smtp_server.inbox.messages:
        body = message.get_content()
        (link,) = [line[len("Link: ") :] for line in body.splitlines() if line.startswith("Link: ")]
        stories.append(urlsplit(link)._replace(query="", fragment="").geturl())
    return sorted(stories)


def monitor_once_alerts_once(
    tmp_path: Path,
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    *,
    server_database_url: str,
) -> None:
    serve_examples(feed_server)
    config = write_config(tmp_path, feed_server, smtp_server.channel_url())
    flow_env = {"NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'newswatch.db'}"}

    with prefect_stack(
        tmp_path, server_database_url=server_database_url, flow_env=flow_env
    ) as stack:
        flow_run_id = stack.trigger("monitor/monitor", config_path=str(config))
        run = stack.wait_for(flow_run_id)

        assert_completed(run)
        # The scheduler is off: deploying made no scheduled monitor or digest runs.
        assert [r["id"] for r in stack.flow_runs({})] == [flow_run_id]
        assert smtp_server.inbox.subjects() == [LAMMY]
        assert_each_feed_polled_once(feed_server)
        summary = artifact_markdown(stack, flow_run_id, "monitor-summary")
        assert "feeds polled: 3 (0 failed)" in summary
        assert "alerts sent: 1, failed: 0" in summary


def test_monitor_deployment_on_a_sqlite_backed_server_alerts_once(
    feed_server: FeedServer, smtp_server: SmtpServer, tmp_path: Path, prefect_template: Path
) -> None:
    database = tmp_path / "prefect-server.db"
    seed_database(database, tmp_path / "prefect-home", prefect_template)
    monitor_once_alerts_once(
        tmp_path,
        feed_server,
        smtp_server,
        server_database_url=f"sqlite+aiosqlite:///{database}",
    )


@pytest.mark.postgres
def test_monitor_deployment_on_a_postgres_backed_server_alerts_once(
    feed_server: FeedServer, smtp_server: SmtpServer, tmp_path: Path, prefect_pg_url: str
) -> None:
    monitor_once_alerts_once(tmp_path, feed_server, smtp_server, server_database_url=prefect_pg_url)


def test_no_flows_module_shadows_the_standard_library() -> None:
    """A worker's flow run loads flows/monitor.py by path, which puts flows/ on sys.path of
    the run and of every process it spawns: a flows/secrets.py there once replaced the
    stdlib `secrets` in the feed parser processes, and every feed failed to parse."""
    modules = {path.stem for path in (ROOT / "flows").glob("*.py")} - {"__init__"}
    assert modules, "no flow modules found"
    assert sorted(modules & sys.stdlib_module_names) == []


def serve_syndicated_copies(feed_server: FeedServer, copies: int) -> dict[str, str]:
    """The example feeds again under /copy-N/ (the Lammy story in every one), plus a second
    matching story in each Continental Wire copy under its own guid; the extra feeds' names."""
    extra: dict[str, str] = {}
    for copy in range(1, copies + 1):
        for path, (name, content_type) in FEEDS.items():
            body = (EXAMPLES / "feeds" / path.lstrip("/")).read_text(encoding="utf-8")
            if path == "/continental-wire.xml":
                body = body.replace("<item>", ENVOY_ITEM.format(copy=copy) + "<item>", 1)
            copy_path = f"/copy-{copy}{path}"
            feed_server.routes[copy_path] = Route(
                body=body.encode("utf-8"), content_type=content_type
            )
            extra[copy_path] = f"{name} {copy}"
    return extra


@pytest.mark.postgres
def test_two_workers_and_four_shards_poll_every_feed_once_and_alert_once(
    feed_server: FeedServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    pg_url: str,
    prefect_pg_url: str,
) -> None:
    serve_examples(feed_server)
    extra = serve_syndicated_copies(feed_server, copies=3)
    config = write_config(tmp_path, feed_server, smtp_server.channel_url(), extra_feeds=extra)
    assert len(feed_server.routes) == 12

    # A worker holds at most three runs: the one that runs the parent can take at most two
    # shards, so the other must start at least two, and both workers are seen at work.
    with prefect_stack(
        tmp_path,
        server_database_url=prefect_pg_url,
        flow_env={"NEWSWATCH_DATABASE_URL": pg_url},
        workers=2,
        worker_limit=3,
    ) as stack:
        parent_id = stack.trigger("monitor/monitor", config_path=str(config), shards=4)
        parent = stack.wait_for(parent_id)
        shards = stack.flow_runs({"flow_runs": {"parent_flow_run_id": {"any_": [parent_id]}}})
        shard_deployment = stack.api("GET", "/deployments/name/monitor-shard/monitor-shard")

        assert_completed(parent)
        assert len(shards) == 4, [s["name"] for s in shards]
        for shard in shards:
            assert_completed(shard)
            assert shard["deployment_id"] == shard_deployment["id"]
            assert shard["parameters"]["shards"] == 4
            assert shard["parameters"]["config_path"] == str(config)
        assert len({s["parameters"]["shard"] for s in shards}) == 4
        assert_each_feed_polled_once(feed_server)
        # One alert per story. Which syndicated copy names the Lammy story depends on which
        # shard stored it first, so the alerts are told apart by the stories they link to.
        assert alerted_stories(smtp_server) == sorted([LAMMY_LINK, ENVOY_LINK])
        assert all(s.startswith("[UK-China visits] ") for s in smtp_server.inbox.subjects())
        started = started_by(stack)
        run_ids = {parent_id, *(s["id"] for s in shards)}
        assert set().union(*started.values()) == run_ids
        assert sum(len(runs) for runs in started.values()) == len(run_ids)
        assert all(started.values()), started
