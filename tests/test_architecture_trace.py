"""docs/architecture.md's "One article" path, checked against a real cycle.

One article (the worked example, in Harbour Gazette's RSS) goes from feed bytes to an email
received by a real SMTP server; a profiler notes every project module whose Python code ran,
and on which thread. The doc's list of files must be exactly that set (rules/ is compiled
with mypyc: its frames are not Python frames, so it is named apart), and project code runs
in two threads only: the caller's (store, deliver) and the event loop's (fetch, pages, and
the digest, which production runs in a worker process: run in-process here so the
profiler sees it).
"""

from __future__ import annotations

import re
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from newswatch import cycle as orchestrator
from newswatch import store
from newswatch.config import load_config
from tests.support.examples import EXAMPLES
from tests.support.feedserver import FeedServer, Route
from tests.support.smtp import SmtpServer

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
PROJECT = ("newswatch/", "connectors/", "rules/")


def documented_path() -> set[str]:
    """The files the doc's "One article" section names (its `path.py` mentions)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## One article", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`((?:newswatch|connectors)/[\w/]+\.py)`", section))


class Trace:
    """Project modules that ran, and the threads they ran on."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.threads: set[tuple[str, str]] = set()  # (thread, module)

    def __call__(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or frame.f_code.co_name == "<module>":
            return  # a module imported meanwhile is not on the path
        name = frame.f_code.co_filename
        if not name.startswith(str(ROOT)):
            return
        relative = Path(name).relative_to(ROOT).as_posix()
        if relative.startswith(PROJECT):
            self.modules.add(relative)
            self.threads.add((threading.current_thread().name, relative))


def test_one_article_passes_the_files_and_hand_offs_the_doc_names(
    feed_server: FeedServer, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    body = (EXAMPLES / "feeds" / "harbour-gazette.xml").read_bytes()
    feed_server.routes["/harbour.xml"] = Route(body=body, content_type="application/rss+xml")
    warm_up = (
        b'<rss version="2.0"><channel><title>Quay Times</title><item><guid>w1</guid>'
        b"<title>Harbour festival opens</title><link>https://quay.example/festival</link>"
        b"<description>The annual harbour festival opened on Friday with music, boat races "
        b"and food stalls along the quay.</description></item></channel></rss>"
    )
    feed_server.routes["/wire.xml"] = Route(body=warm_up, content_type="application/rss+xml")
    config_path = tmp_path / "newswatch.yaml"
    config_path.write_text(
        "feeds:\n"
        f"  - name: Harbour Gazette\n    url: {feed_server.url('/harbour.xml')}\n"
        "    full_text: never\n"  # the article pages' path is tests/test_full_text.py's
        f"  - name: Quay Times\n    url: {feed_server.url('/wire.xml')}\n"
        "    full_text: never\n"
        "rules:\n"
        "  - id: uk-china-visit\n    name: UK-China visits\n"
        "    query: UK AND China AND visit\n    channels: [desk-email]\n"
        f"channels:\n  desk-email:\n    url: '{smtp_server.channel_url()}'\n",
        encoding="utf-8",
    )
    config = load_config(config_path, environ={})
    engine = store.make_engine(f"sqlite:///{tmp_path / 'newswatch.db'}")
    plan = orchestrator.plan(engine, config, now=NOW, due_only=False)
    alerts = orchestrator.Alerts(config, {})
    trace = Trace()
    harbour = [t for t in plan.targets if t.name == "Harbour Gazette"]
    with orchestrator.DigestPool(plan.matcher, in_process=True) as pool:
        # Another feed first, untraced: what loads once per process (the language model,
        # the dictionaries) is loaded then, whatever ran in this process before, and the
        # trace sees what one article crosses.
        warmed, _ = orchestrator.poll_batch(
            plan, [t for t in plan.targets if t not in harbour], engine=engine, pool=pool
        )
        threading.setprofile(trace)
        sys.setprofile(trace)
        try:
            feeds, _ = orchestrator.poll_batch(
                plan, harbour, engine=engine, pool=pool, alerts=alerts
            )
            alerts.send(engine, NOW)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
    engine.dispose()

    assert [f.ok for f in warmed + feeds] == [True, True]
    assert smtp_server.inbox.subjects() == [
        "[UK-China visits] Lammy visits Beijing as UK and China seek a reset"
    ]
    traced = {m for m in trace.modules if not m.startswith("rules/")}
    print(f"files on the article's path: {len(traced)}: {sorted(traced)}")
    assert traced == documented_path()
    # Apprise sends from threads of its own, calling back email_parts for a Message-ID
    threads = {
        name for name, module in trace.threads if module != "newswatch/notify/email_parts.py"
    }
    assert threads == {threading.current_thread().name, "cycle-loop"}
