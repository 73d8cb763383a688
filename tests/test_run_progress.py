"""`newswatch run`'s progress, read back from the database a real cycle writes: a rich bar
on a terminal, plain lines when piped, both ending with the cycle's own counts."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from newswatch import cycle
from newswatch.cli.progress import RunProgress
from newswatch.config import load_config
from newswatch.models import utcnow
from tests.support.examples import example_feeds, write_config


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_watched(engine: Engine, tmp_path: Path, stream: io.StringIO) -> None:
    feeds = example_feeds()
    config = load_config(write_config(tmp_path, feeds, "json://127.0.0.1:9/hook"), environ={})
    urls = [f.url for f in config.feeds]
    since = utcnow() - timedelta(seconds=1)
    with RunProgress(engine, since=since, config_urls=urls, stream=stream, interval_s=0.05):
        cycle.run_cycle(engine, config, environ={}, now=utcnow(), due_only=False, transport=feeds)


def test_piped_progress_is_plain_lines_ending_with_the_cycles_counts(
    engine: Engine, tmp_path: Path
) -> None:
    out = io.StringIO()
    run_watched(engine, tmp_path, out)
    lines = out.getvalue().splitlines()
    assert lines
    assert all(line.startswith("progress: feeds ") for line in lines)
    assert lines[-1] == "progress: feeds 3/3 done, 28 new articles, 1 match, 0 alerts sent"
    assert "\x1b" not in out.getvalue()


def test_a_terminal_gets_a_bar_with_the_counts(engine: Engine, tmp_path: Path) -> None:
    out = Terminal()
    run_watched(engine, tmp_path, out)
    text = out.getvalue()
    assert "progress:" not in text
    assert "3/3" in text
    assert "28 new articles, 1 match, 0 alerts sent" in text
