"""A store that lasts: a manual run during a scheduled one, on one SQLite file, finishes
with no "database is locked" and stores and alerts every story once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from newswatch import store
from newswatch.models import Article, ArticleSource, Delivery, Match
from tests.support.feedserver import FeedServer, Route
from tests.support.webhook import WebhookReceiver, running_receiver

ROOT = Path(__file__).resolve().parent.parent
OUTLETS = 10
STORIES_PER_FEED = 40
SYNDICATED = 15  # stories every outlet runs under the wire's URL
START = datetime(2024, 10, 18, 6, 0, tzinfo=UTC)


def story(key: str, *, matching: bool) -> tuple[str, str]:
    if matching:
        return (
            f"UK foreign secretary to visit China for talks ({key})",
            f"Britain's foreign secretary will visit Beijing for talks ({key}) as the UK "
            "and China seek a reset.",
        )
    return (f"Harbour dredging contract {key} awarded", f"The port authority chose bid {key}.")


def rss(outlet: int, round_: int) -> bytes:
    """An outlet's feed in one round: its own stories and the wire's syndicated ones; every
    third story matches the rule."""
    items = []
    for n in range(STORIES_PER_FEED):
        syndicated = n < SYNDICATED
        key = f"wire-{round_}-{n}" if syndicated else f"o{outlet}-{round_}-{n}"
        link = f"https://wire.example/{key}" if syndicated else f"https://o{outlet}.example/{key}"
        title, text = story(key, matching=n % 3 == 0)
        when = format_datetime(START + timedelta(hours=round_, minutes=n))
        items.append(
            f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
            f"<description>{text}</description><pubDate>{when}</pubDate></item>"
        )
    body = "".join(items)
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {outlet}</title>'
        f"<link>https://o{outlet}.example/</link>{body}</channel></rss>"
    ).encode()


def expected_links(round_: int) -> tuple[set[str], set[str]]:
    """Every story of a round by its link, and the ones that match."""
    links, matching = set(), set()
    for outlet in range(OUTLETS):
        for n in range(STORIES_PER_FEED):
            syndicated = n < SYNDICATED
            key = f"wire-{round_}-{n}" if syndicated else f"o{outlet}-{round_}-{n}"
            host = "wire" if syndicated else f"o{outlet}"
            link = f"https://{host}.example/{key}"
            links.add(link)
            if n % 3 == 0:
                matching.add(link)
    return links, matching


def write_config(tmp_path: Path, server: FeedServer, hook: str) -> Path:
    lines = ["feeds:"]
    for outlet in range(OUTLETS):
        lines += [f"  - name: Outlet {outlet}", f"    url: {server.url(f'/o{outlet}.xml')}"]
    lines += [
        "rules:",
        "  - id: uk-china-visit",
        "    query: UK AND China AND visit",
        "    channels: [desk-hook]",
        "channels:",
        "  desk-hook:",
        f"    url: '{hook}'",
    ]
    path = tmp_path / "newswatch.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def two_cycles_at_once(tmp_path: Path, config: Path, url: str, round_: int) -> list[str]:
    """A scheduled cycle (due feeds) and a manual one (every feed) in two processes, let go
    at the same moment; their stdout lines."""
    go = tmp_path / f"go-{round_}"
    children = []
    for name, due in (("scheduled", "due"), ("manual", "all")):
        ready = tmp_path / f"ready-{round_}-{name}"
        argv = [sys.executable, "-m", "tests.support.cycle_process"]
        argv += [str(config), url, str(ready), str(go), due]
        children.append(
            (
                ready,
                subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env=SEPARATE_STORIES,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    deadline = time.monotonic() + 60
    while not all(ready.exists() for ready, _ in children) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    lines = []
    for _, child in children:
        out, err = child.communicate(timeout=180)
        assert "database is locked" not in err, err
        assert "Traceback" not in err, err
        assert child.returncode == 0, err
        lines.append(out.strip())
    return lines


# The generated stories share most of their words, so story grouping (tests/test_stories.py)
# would make them one story; here each article must stand alone.
SEPARATE_STORIES = {**os.environ, "NEWSWATCH_STORY_THRESHOLD": "1.0"}


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with running_receiver() as receiver:
        yield receiver


def test_a_manual_run_during_a_scheduled_one_stores_and_alerts_each_story_once(
    tmp_path: Path, feed_server: FeedServer, webhook: WebhookReceiver
) -> None:
    url = f"sqlite:///{tmp_path / 'newswatch.db'}"  # a new file: both processes make it
    config = write_config(tmp_path, feed_server, webhook.json_url())
    all_links: set[str] = set()
    all_matching: set[str] = set()
    for round_ in range(3):  # news arrives; both cycles poll again at the same moment
        for outlet in range(OUTLETS):
            feed_server.routes[f"/o{outlet}.xml"] = Route(body=rss(outlet, round_))
        links, matching = expected_links(round_)
        all_links |= links
        all_matching |= matching
        two_cycles_at_once(tmp_path, config, url, round_)

    engine = store.make_engine(url)
    with Session(engine) as session:
        stored = Counter(a.url for a in session.exec(select(Article)).all())
        matched = Counter(
            a.url for _, a in session.exec(select(Match, Article).join(Article)).all()
        )
        deliveries = session.exec(select(Delivery)).all()
        carried_wire = session.exec(
            select(ArticleSource)
            .join(Article)
            .where(Article.url == "https://wire.example/wire-0-0")
        ).all()
    engine.dispose()
    assert set(stored) == all_links
    assert max(stored.values()) == 1
    assert set(matched) == all_matching
    assert max(matched.values()) == 1
    assert len(deliveries) == len(all_matching)
    assert {d.status for d in deliveries} == {"sent"}
    assert len(carried_wire) == OUTLETS  # every outlet noted as a source of the wire copy
    alerts = Counter(str(r.payload) for r in webhook.accepted())
    assert len(webhook.accepted()) == len(all_matching)  # one alert per matching story
    assert max(alerts.values()) == 1
