"""Crash trials: SIGKILL a monitor cycle at chosen points, recover, count lost and duplicate alerts.

Run as `python -m tests.support.crash_trials --trials 50` for the JSON summary; the test suite
calls `run_trials` and asserts on it. The child process (`--child`) runs one cycle with a kill
point patched in, then kills itself with SIGKILL exactly there, as an outside kill at that
moment would.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from newswatch import notify, pipeline, store
from newswatch.config import load_config
from newswatch.models import Message, SendResult
from newswatch.notify import AppriseNotifier, Channel
from tests.support.feedserver import FeedServer, Route, running_feed_server
from tests.support.smtp import SmtpServer, running_smtp_server

POINTS = ("after-store", "mid-delivery", "after-send-before-mark")
NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
MATCHING = [f"UK minister to visit China, report {i}" for i in range(4)]
OTHER = ["Storm warning for the coast", "Ferry timetable cut for winter"]
ROOT = Path(__file__).resolve().parents[2]


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


class _KillingNotifier:
    """Sends for real, and SIGKILLs the process before or after the `k`th send."""

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


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def child(config_path: Path, database_url: str, point: str, k: int) -> None:
    """One cycle that SIGKILLs itself at `point` (after `k` sends for the delivery points)."""
    config = load_config(config_path, environ={})
    engine = store.make_engine(database_url)
    cycle = pipeline.plan(engine, config, now=NOW)
    if point == "after-store":
        # The first commit that stores a feed's articles: the database's own hook.
        event.listen(Session, "after_commit", lambda _session: _die())
    pipeline.poll_batch(
        cycle.targets, engine=engine, matcher=cycle.matcher, options=cycle.options, now=NOW
    )
    notify.deliver(engine, config, environ={}, now=NOW, notifier=_KillingNotifier(point, k))


def run_trials(trials: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    summary: dict[str, Any] = {
        "trials": trials,
        "lost": 0,
        "duplicates": 0,
        "killed": 0,
        "by_point": {p: {"trials": 0, "lost": 0, "duplicates": 0} for p in POINTS},
    }
    with running_feed_server() as feeds, running_smtp_server() as smtp:
        feeds.routes["/feed.xml"] = Route(body=feed_xml())
        for trial in range(trials):
            point = POINTS[trial % len(POINTS)]
            k = rng.randrange(len(MATCHING))
            smtp.inbox.messages.clear()
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                config_path = write_config(folder, feeds, smtp)
                database_url = f"sqlite:///{folder / 'crash.db'}"
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "tests.support.crash_trials",
                        "--child",
                        str(config_path),
                        database_url,
                        point,
                        str(k),
                    ],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                summary["killed"] += proc.returncode == -signal.SIGKILL
                # A normal cycle after the crash, once the dead sender's claims have lapsed.
                engine = store.make_engine(database_url)
                config = load_config(config_path, environ={})
                pipeline.run_cycle(
                    engine, config, environ={}, now=NOW + store.CLAIM_LEASE + timedelta(minutes=1)
                )
                engine.dispose()
            got = Counter(smtp.inbox.subjects())
            expected = {f"[uk-china-visit] {t}" for t in MATCHING}
            lost = len(expected - set(got))
            duplicates = sum(n - 1 for n in got.values() if n > 1)
            summary["lost"] += lost
            summary["duplicates"] += duplicates
            summary["by_point"][point]["trials"] += 1
            summary["by_point"][point]["lost"] += lost
            summary["by_point"][point]["duplicates"] += duplicates
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=4, metavar=("CONFIG", "DB", "POINT", "K"))
    args = parser.parse_args()
    if args.child:
        config_path, database_url, point, k = args.child
        child(Path(config_path), database_url, point, int(k))
        return
    print(json.dumps(run_trials(args.trials, args.seed)))


if __name__ == "__main__":
    main()
