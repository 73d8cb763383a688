"""A dry run counts what the real run stores: one match per (article, rule), so an article
two rules match is two matches in both (a dry run once said 9 where the real run said 11)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from newswatch import cycle, run_summary
from newswatch.config import load_config
from tests.support.examples import example_feeds, write_config

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
TWO_RULES = """\
  - id: china
    query: China OR Beijing
    channels: [desk-email]
"""


def test_a_dry_run_counts_the_matches_the_real_run_stores(engine: Engine, tmp_path: Path) -> None:
    feeds = example_feeds()
    path = write_config(tmp_path, feeds, "json://127.0.0.1:9/hook")
    text = path.read_text(encoding="utf-8").replace(
        "channels:\n  desk", TWO_RULES + "channels:\n  desk"
    )
    path.write_text(text, encoding="utf-8")
    config = load_config(path, environ={})
    assert [r.id for r in config.rules] == ["uk-china-visit", "china"]

    dry = cycle.run_cycle(
        engine, config, environ={}, now=NOW, dry_run=True, due_only=False, transport=feeds
    )
    real = cycle.run_cycle(engine, config, environ={}, now=NOW, due_only=False, transport=feeds)

    both_rules = [m for f in dry.feeds for m in f.matched if len(m.hits) == 2]
    assert both_rules  # the worked example is matched by both rules
    assert real.matches > len([m for f in real.feeds for m in f.matched])
    assert dry.matches == real.matches
    assert dry.new_articles == real.new_articles
    assert len(run_summary.from_cycle(dry).matches) == dry.matches
    assert [(f.url, f.matches) for f in dry.feeds] == [(f.url, f.matches) for f in real.feeds]
