"""Crash trials: SIGKILL a monitor cycle at a chosen point, recover, count lost and duplicate
alerts.

`run_trial` runs one: a child process (`python -m tests.support.crash_trials --child ...`)
runs one cycle with the kill point armed and kills itself with SIGKILL exactly there, as an
outside kill at that moment would; then a normal cycle runs once the dead sender's claims
have lapsed, and the SMTP server's inbox is counted. tests/test_outbox_safety.py runs one
trial per kill point; `bench/crash_trials.py` runs many with random delivery counts.

Kill points:

  before-store-commit     the feed's articles, matches and outbox rows are written, not committed
  after-store-commit      ... and committed, before any alert is sent
  mid-delivery            after `k` alerts are sent and marked, before the next is sent
  after-send-before-mark  the (k+1)th alert is sent, its delivery not yet marked sent

The store points are found through SQLAlchemy's own events: the transaction that inserts
outbox rows (`INSERT INTO delivery`) is the feed's store, and the kill falls at its
`before_commit` or `after_commit`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, orm
from sqlmodel import Session

from newswatch import cycle as orchestrator
from newswatch import notify, store
from newswatch.config import load_config
from newswatch.models import Delivery, Message, SendResult
from newswatch.notify import AppriseNotifier, Channel
from tests.support.feedserver import FeedServer, Route, running_feed_server
from tests.support.smtp import SmtpServer, running_smtp_server

STORE_POINTS = ("before-store-commit", "after-store-commit")
DELIVERY_POINTS = ("mid-delivery", "after-send-before-mark")
POINTS = STORE_POINTS + DELIVERY_POINTS
NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
MATCHING = [f"UK minister to visit China, report {i}" for i in range(4)]
OTHER = ["Storm warning for the coast", "Ferry timetable cut for winter"]
EXPECTED = {f"[uk-china-visit] {t}" for t in MATCHING}
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Trial:
    point: str
    k: int
    killed: bool  # the child died by SIGKILL: the kill point was reached
    outbox_rows: int  # deliveries in the database after the kill, before recovery
    lost: int  # matching stories never alerted
    duplicates: int  # alerts sent more than once, counted beyond the first
    stderr: str  # the child's last words, for when it was not killed
    message_ids: dict[str, set[str]]  # subject -> the Message-IDs it arrived with


def feed_xml() -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://example.org/{i}</link>"
        f"<guid>g{i}</guid><description>{t}.</description></item>"
        for i, t in enumerate(MATCHING + OTHER)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Crash Courier</title>'
        f"{items}</channel></rss>"
    ).encode()


def write_config(folder: Path, feeds: FeedServer, smtp: SmtpServer) -> Path:
    path = folder / "newswatch.yaml"
    path.write_text(
        "feeds:\n"
        f"  - name: Crash Courier\n    url: {feeds.url('/feed.xml')}\n"
        "rules:\n"
        "  - id: uk-china-visit\n    query: UK AND China AND visit\n    channels: [mail]\n"
        "channels:\n"
        f"  mail:\n    url: '{smtp.channel_url()}'\n",
        encoding="utf-8",
    )
    return path


@contextmanager
def peers() -> Iterator[tuple[FeedServer, SmtpServer]]:
    """The feed server carrying the trial's feed, and the SMTP server that counts alerts."""
    with running_feed_server() as feeds, running_smtp_server() as smtp:
        feeds.routes["/feed.xml"] = Route(body=feed_xml())
        yield feeds, smtp


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm_store_kill(point: str) -> None:
    """Die at the commit of the transaction that writes outbox rows (the feed's store)."""
    outbox_written = False

    def note_outbox(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal outbox_written
        if statement.lstrip().lower().startswith("insert into delivery"):
            outbox_written = True

    def at_commit(_session: orm.Session) -> None:
        if outbox_written:
            _die()

    event.listen(Engine, "before_cursor_execute", note_outbox)
    moment = "before_commit" if point == "before-store-commit" else "after_commit"
    event.listen(orm.Session, moment, at_commit)


class KillingNotifier:
    """Sends for real, and SIGKILLs the process before the (k+1)th send, or after it and
    before its delivery is marked sent."""

    def __init__(self, point: str, k: int) -> None:
        self.point, self.k, self.sends = point, k, 0
        self.real = AppriseNotifier()

    def send(self, channel: Channel, message: Message) -> SendResult:
        if self.point == "mid-delivery" and self.sends == self.k:
            _die()
        result = self.real.send(channel, message)
        self.sends += 1
        if self.point == "after-send-before-mark" and self.sends == self.k + 1:
            _die()
        return result


def child(config_path: Path, database_url: str, point: str, k: int) -> None:
    """One cycle that SIGKILLs itself at `point`."""
    if point in STORE_POINTS:
        arm_store_kill(point)
    config = load_config(config_path, environ={})
    engine = store.make_engine(database_url)
    cycle = orchestrator.plan(engine, config, now=NOW)
    orchestrator.poll_batch(cycle, cycle.targets, engine=engine)
    notify.deliver(engine, config, environ={}, now=NOW, notifier=KillingNotifier(point, k))


def run_trial(
    feeds: FeedServer,
    smtp: SmtpServer,
    point: str,
    k: int,
    *,
    next_run: datetime = NOW + store.CLAIM_LEASE + timedelta(minutes=1),
) -> Trial:
    """Kill a cycle at `point` (after `k` sends, for the delivery points), then recover
    with a normal cycle at `next_run` (by default once the dead sender's claims lapsed)."""
    smtp.inbox.messages.clear()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config_path = write_config(folder, feeds, smtp)
        database_url = f"sqlite:///{folder / 'crash.db'}"
        args = ["--child", str(config_path), database_url, point, str(k)]
        proc = subprocess.run(
            [sys.executable, "-m", "tests.support.crash_trials", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        engine = store.make_engine(database_url)
        with Session(engine) as session:
            outbox_rows = store.count_rows(session, Delivery)
        config = load_config(config_path, environ={})
        orchestrator.run_cycle(engine, config, environ={}, now=next_run)
        engine.dispose()
    got = Counter(smtp.inbox.subjects())
    message_ids: dict[str, set[str]] = {}
    for message in smtp.inbox.messages:
        message_ids.setdefault(str(message["Subject"]), set()).update(
            message.get_all("Message-ID") or []
        )
    return Trial(
        point=point,
        k=k,
        killed=proc.returncode == -signal.SIGKILL,
        outbox_rows=outbox_rows,
        lost=len(EXPECTED - set(got)),
        duplicates=sum(n - 1 for n in got.values() if n > 1),
        stderr=proc.stderr[-3000:],
        message_ids=message_ids,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="The child of one crash trial.")
    parser.add_argument("--child", nargs=4, metavar=("CONFIG", "DB", "POINT", "K"), required=True)
    config_path, database_url, point, k = parser.parse_args().child
    child(Path(config_path), database_url, point, int(k))


if __name__ == "__main__":
    main()
