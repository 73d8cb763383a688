"""No head-of-line blocking: a feed that never answers holds back no other feed's storing
or alerting, while feeds that answer promptly are still stored in the order listed (the
first feed listed owns a story several carry).

Real peers: the feed server (one route that answers only when the test lets it, after the
other feeds' alerts arrived), a json:// receiver for the alerts, a SQLite file. The fetch
deadline itself is tested in tests/test_connectors_http.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlmodel import Session, select

from newswatch import cycle as orchestrator
from newswatch import store
from newswatch.config import parse_config
from newswatch.models import Article, CycleReport
from newswatch.ordered_window import in_order
from tests.support.feedserver import FeedServer, Route
from tests.support.webhook import running_receiver

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
ALERTS_WAIT_S = 240.0  # how long the test waits for the other feeds' alerts before failing


def rss(outlet: str, stories: list[tuple[str, str]]) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        "<pubDate>Fri, 18 Oct 2024 09:00:00 GMT</pubDate></item>"
        for title, link in stories
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{outlet}</title>'
        f"{items}</channel></rss>"
    ).encode()


def test_a_feed_that_never_answers_holds_back_no_other_feeds_alerts(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    answer = threading.Event()
    stalled = Route(
        body=rss("Stalled Times", [("Volcano eruption", "https://stalled.example/1")]),
        hold=answer,
    )
    feed_server.routes["/stalled.xml"] = stalled
    fast = {}
    for i in range(3):
        link = f"https://fast{i}.example/volcano"
        fast[f"/fast-{i}.xml"] = link
        stories = [(f"Volcano eruption {i} closes airport", link), ("Markets", f"{link}/m")]
        feed_server.routes[f"/fast-{i}.xml"] = Route(body=rss(f"Fast {i}", stories))
    feeds = [{"name": "Stalled Times", "url": feed_server.url("/stalled.xml")}]
    feeds += [{"name": f"Fast {i}", "url": feed_server.url(p)} for i, p in enumerate(fast)]
    engine = store.make_engine(f"sqlite:///{tmp_path / 'newswatch.db'}")

    with running_receiver() as receiver:
        text = yaml.safe_dump(
            {
                # never reached: the stalled feed answers when the test releases it
                "monitor": {"fetch_timeout_seconds": 3600},
                "feeds": feeds,  # the stalled feed is listed first
                "rules": [{"id": "volcano", "query": "volcano AND eruption"}],
                "channels": {"desk": {"url": receiver.json_url(), "all_rules": True}},
            }
        )
        config = parse_config(text, name="newswatch.yaml", environ={})
        reports: list[CycleReport] = []
        cycle = threading.Thread(
            target=lambda: reports.append(
                orchestrator.run_cycle(engine, config, environ={}, now=NOW)
            )
        )
        cycle.start()
        deadline = time.monotonic() + ALERTS_WAIT_S
        while len(receiver.accepted()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        alerted_while_stalled = len(receiver.accepted()) == 3 and cycle.is_alive()
        stalled.status = 503  # then the stalled feed answers, with an error
        answer.set()
        cycle.join()

    # the fast feeds' alerts arrived while the stalled feed was still being waited for
    assert alerted_while_stalled
    titles = sorted(r.payload["title"] for r in receiver.accepted())
    assert len(titles) == 3
    assert all("Volcano eruption" in t for t in titles)
    (report,) = reports
    by_name = {f.name: f for f in report.feeds}
    assert not by_name["Stalled Times"].ok
    assert "503" in by_name["Stalled Times"].health
    assert [by_name[f"Fast {i}"].new_articles for i in range(3)] == [2, 2, 2]
    assert report.delivery.sent == 3
    with Session(engine) as session:
        assert len(session.exec(select(Article)).all()) == 6
    engine.dispose()


def test_results_keep_the_listed_order_when_every_job_is_prompt() -> None:
    async def job(n: int) -> int:
        await asyncio.sleep(0.01 * (5 - n))  # later-listed jobs finish first
        return n * 10

    async def go() -> list[list[tuple[int, int]]]:
        return [ready async for ready in in_order(range(5), job, window=5, patience_s=5.0)]

    handed = [item for ready in asyncio.run(go()) for item, _ in ready]
    assert handed == [0, 1, 2, 3, 4]


def test_a_job_that_never_finishes_is_passed_after_the_patience() -> None:
    never = asyncio.Event()

    async def job(n: int) -> int:
        if n == 0:
            await never.wait()  # a server that never answers; cancelled when we stop
        return n

    async def go() -> list[int]:
        handed: list[int] = []
        async for ready in in_order(range(4), job, window=4, patience_s=0.2):
            handed += [item for item, _ in ready]
            if handed == [1, 2, 3]:
                break  # the stalled job is still running: the rest did not wait for it
        return handed

    assert asyncio.run(asyncio.wait_for(go(), timeout=30)) == [1, 2, 3]
