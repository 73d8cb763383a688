"""Nothing lost, nothing doubled: crashes, an SMTP outage, and two senders at once."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from connectors.testing import FeedTransport
from newswatch import cycle as orchestrator
from newswatch import run_summary, store
from newswatch.config import load_config
from newswatch.models import DeliveryKind, DeliveryStatus
from newswatch.notify import deliver
from tests.support.alerts_data import LAMMY, make_config, seed
from tests.support.crash_trials import (
    DELIVERY_POINTS,
    EXPECTED,
    MATCHING,
    POINTS,
    ROOT,
    peers,
    run_trial,
)
from tests.support.cycles import cycle
from tests.support.smtp import free_port, running_smtp_server
from tests.support.webhook import running_receiver

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
FEED_URL = "https://outage.example/feed.xml"  # served by FeedTransport


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_each_point_of_a_cycle_loses_no_alert(point: str) -> None:
    with peers() as (feeds, smtp):
        trial = run_trial(feeds, smtp, point, k=1)

    assert trial.killed, trial.stderr
    assert trial.outbox_rows == (0 if point == "before-store-commit" else len(MATCHING))
    assert trial.lost == 0
    # A duplicate is only possible when the kill falls between a send and its mark.
    assert trial.duplicates == (1 if point == "after-send-before-mark" else 0)


@pytest.mark.parametrize("point", DELIVERY_POINTS)
def test_crash_mid_send_is_resent_on_next_run(point: str) -> None:
    """A sender SIGKILLed while sending (before its 2nd alert, or after the server took it
    but before the store recorded it): a run three minutes later sends what was cut off.
    The one duplicate possible, in the second case, has the first one's Message-ID."""
    with peers() as (feeds, smtp):
        trial = run_trial(feeds, smtp, point, k=1, next_run=NOW + timedelta(minutes=3))

    assert trial.killed, trial.stderr
    assert trial.lost == 0
    assert trial.duplicates == (1 if point == "after-send-before-mark" else 0)
    assert sorted(trial.message_ids) == sorted(EXPECTED)
    assert all(len(ids) == 1 for ids in trial.message_ids.values())  # a resend keeps its ID
    assert len(set().union(*trial.message_ids.values())) == len(EXPECTED)


def rss(titles: list[str]) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://example.org/{t[-1]}</link><guid>{t}</guid></item>"
        for t in titles
    )
    return (
        f'<rss version="2.0"><channel><title>Outage Times</title>{items}</channel></rss>'.encode()
    )


def outage_config(tmp_path: Path, port: int) -> Path:
    """The outage tests' config: Outage Times' feed, one rule, its alerts by email to ``port``
    (where the tests start and stop the mail server). It reads no article pages: the
    stories' pages do not exist, and a page warning would spoil a count of warnings."""
    url = f"mailto://127.0.0.1:{port}?from=nw@example.org&to=desk@example.org&format=text"
    config = tmp_path / "newswatch.yaml"
    config.write_text(
        f"feeds:\n  - name: Outage Times\n    url: {FEED_URL}\n    full_text: never\n"
        "rules:\n  - id: uk-china-visit\n    query: UK AND China AND visit\n"
        "    channels: [mail]\n"
        f"channels:\n  mail:\n    url: '{url}'\n",
        encoding="utf-8",
    )
    return config


def test_smtp_down_for_three_cycles_then_every_alert_arrives_once_oldest_first(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    feeds = FeedTransport()
    port = free_port()  # nothing listens: the mail server is down
    config = outage_config(tmp_path, port)
    titles: list[str] = []
    failed = []
    summaries = []
    caplog.set_level(logging.WARNING, logger="newswatch")
    for n in range(3):  # a new matching story every cycle while the server is down
        titles.insert(0, f"UK to visit China: update {n}")
        feeds.set(FEED_URL, rss(titles))
        report = cycle(engine, config, NOW + timedelta(minutes=15 * n), transport=feeds)
        failed.append(
            (report.matches, report.delivery.sent, report.delivery.failed, report.delivery.pending)
        )
        summaries.append(run_summary.summary_markdown(run_summary.from_cycle(report)))
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("newswatch") and r.levelno == logging.WARNING
    ]

    with running_smtp_server(port) as smtp:
        back = cycle(engine, config, NOW + timedelta(minutes=45), transport=feeds)
        quiet = cycle(engine, config, NOW + timedelta(minutes=60), transport=feeds)
        subjects = smtp.inbox.subjects()

    # One attempt per cycle while down (the queue waits behind it), none sent, and the
    # run's summary (the Prefect artifact) and log say so.
    assert failed == [(1, 0, 1, 1), (1, 0, 1, 2), (1, 0, 1, 3)]
    assert "- alerts sent: 0, failed: 1, gave up: 0, pending: 3" in summaries[2]
    assert len(warnings) == 3
    assert all(w.startswith("alert to channel 'mail' failed (attempt ") for w in warnings)
    assert (back.delivery.sent, quiet.delivery.sent) == (3, 0)
    assert (back.delivery.pending, quiet.delivery.pending) == (0, 0)
    assert subjects == [f"[uk-china-visit] UK to visit China: update {n}" for n in range(3)]
    assert Counter(subjects).most_common(1)[0][1] == 1


@pytest.mark.postgres
def test_two_senders_on_postgresql_never_send_the_same_delivery(
    pg_url: str, tmp_path: Path
) -> None:
    engine = store.make_engine(pg_url)
    store.migrate(engine)
    with running_receiver(delay_s=0.02) as receiver:
        config = make_config(tmp_path, {"hook": f"url: {receiver.json_url()}"})
        titles = [f"UK visit to China, item {i}" for i in range(40)]
        assert seed(engine, config, titles) == 40
        reports = []

        def sender() -> None:
            reports.append(deliver(engine, config, environ={}, now=NOW, batch=5))

        workers = [threading.Thread(target=sender) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        got = Counter(r.payload["title"] for r in receiver.accepted())
    engine.dispose()

    assert sum(r.sent for r in reports) == 40
    assert all(r.sent > 0 for r in reports)  # both really took part
    assert len(got) == 40
    assert max(got.values()) == 1


def test_the_claim_is_atomic_on_sqlite_too(engine: Engine, tmp_path: Path) -> None:
    config = make_config(tmp_path, {"hook": "url: json://127.0.0.1:9/hook"})
    seed(engine, config, [f"UK visit to China, item {i}" for i in range(10)])
    with store.session_scope(engine) as a:
        first = store.claim_due_deliveries(a, now=NOW)
    with store.session_scope(engine) as b:
        second = store.claim_due_deliveries(b, now=NOW)
    assert len(first) == 10
    assert second == []


def test_after_an_outage_the_backlog_goes_first_and_no_run_later_than_needed(
    engine: Engine, tmp_path: Path
) -> None:
    """Issue 25, finding 6: after an SMTP outage the newest alert went first, minutes before
    the older ones, and a run one retry-delay later found the backlog still held (its hold
    ended seconds after that run started)."""
    feeds = FeedTransport()
    port = free_port()  # nothing listens: the mail server is down
    config = outage_config(tmp_path, port)
    titles: list[str] = []

    def run(seconds: int, story: str | None = None) -> tuple[int, int]:
        if story is not None:
            titles.insert(0, story)
            feeds.set(FEED_URL, rss(titles))
        report = orchestrator.run_cycle(  # every feed: a story a run, as the test says
            engine,
            load_config(config, environ={}),
            environ={},
            now=NOW + timedelta(seconds=seconds),
            due_only=False,
            transport=feeds,
        )
        return report.delivery.sent, report.delivery.failed

    # Down: the first alert fails 5 s into a run; one minute (its retry delay) later the
    # next run tries it again, though it starts a few seconds earlier in its minute.
    assert run(5, "UK to visit China: A") == (0, 1)
    assert run(60, "UK to visit China: B") == (0, 1)
    with running_smtp_server(port) as smtp:
        # Back up, while A and B wait for their retry: C, new, waits behind them...
        assert run(120, "UK to visit China: C") == (0, 0)
        # ...and when their time comes, the three go out oldest first.
        assert run(180) == (3, 0)
        subjects = smtp.inbox.subjects()
    assert subjects == [f"[uk-china-visit] UK to visit China: {x}" for x in "ABC"]


STALLING_SENDER = """
import sys
from datetime import datetime
from pathlib import Path
from newswatch import store
from newswatch.config import load_config
from newswatch.notify import deliver
engine = store.make_engine(sys.argv[2])
deliver(engine, load_config(Path(sys.argv[1]), environ={}), environ={},
        now=datetime.fromisoformat(sys.argv[3]))
"""


def test_a_sender_killed_mid_send_holds_only_the_alert_it_was_sending(
    engine: Engine, tmp_path: Path, database_url: str
) -> None:
    """Issue 25, finding 7: a crash mid-send held every channel of the run for the whole
    2-minute lease, so a healthy webhook's alert arrived minutes late with the email's."""
    stalling = socket.create_server(("127.0.0.1", 0))  # takes the connection, never answers
    port = stalling.getsockname()[1]
    with running_receiver() as hook, stalling:
        config = make_config(
            tmp_path,
            {
                "mail": f"url: mailto://127.0.0.1:{port}?from=nw@example.org&to=desk@example.org",
                "hook": f"url: {hook.json_url()}",
            },
        )
        seed(engine, config, [LAMMY])
        config_file = tmp_path / "newswatch.yaml"
        sender = subprocess.Popen(  # the run that dies while the mail server stalls
            [
                sys.executable,
                "-c",
                STALLING_SENDER,
                str(config_file),
                database_url,
                NOW.isoformat(),
            ],
            cwd=ROOT,
        )
        stalling.settimeout(120)
        connection, _ = stalling.accept()  # the sender is in the middle of the mail's send
        sender.kill()
        sender.wait()
        connection.close()

        # The next run, 30 s later: the webhook's alert goes; the mail's waits for its lease.
        after = deliver(engine, config, environ={}, now=NOW + timedelta(seconds=30))
        assert (after.sent, after.failed) == (1, 0)
        assert len(hook.accepted()) == 1
        with Session(engine) as session:
            waiting = store.count_waiting(session, kind=DeliveryKind.INSTANT)
        assert waiting.get(DeliveryStatus.PENDING.value) == 1
