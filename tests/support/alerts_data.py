"""Alert test material: a config whose one rule alerts the given channels, and articles
stored through the real matcher and store (no feed, no fetch)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.config import Config, load_config
from newswatch.matching import Matcher
from newswatch.models import CleanArticle
from newswatch.plan import prepare

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
LAMMY = "Lammy visits Beijing as UK and China seek a reset"


SUMMARY = "Wang Yi said ties stand at a new starting point after the UK visit."


def make_config(
    tmp_path: Path, channels: dict[str, str], *, extra: str = "", more: str = ""
) -> Config:
    """A config whose one rule alerts every channel given (name -> YAML body of the channel);
    `more` is YAML added at the top level (lists, say) and under `rules:` after it."""
    rules = more.split("rules:\n", 1)
    lines = [
        "monitor:",
        "  timezone: Europe/London",
        *([extra] if extra else []),
        *([rules[0].rstrip()] if rules[0].strip() else []),
        "feeds:",
        "  - name: Harbour Gazette",
        "    url: http://127.0.0.1:9/feed.xml",
        "rules:",
        "  - id: uk-china-visit",
        "    name: UK-China visits",
        "    query: UK AND China AND visit",
        f"    channels: [{', '.join(channels)}]",
        *([rules[1].rstrip()] if len(rules) > 1 else []),
        "channels:",
    ]
    for name, body in channels.items():
        lines.append(f"  {name}:")
        lines += [f"    {line}" for line in body.strip().splitlines()]
    path = tmp_path / "newswatch.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path, environ=dict(os.environ))


def seed(
    engine: Engine,
    config: Config,
    titles: Sequence[str],
    *,
    at: datetime = NOW,
    summary: str = SUMMARY,
) -> int:
    """Store articles with these titles through the real matcher; returns matches stored."""
    prepare(engine, config, now=at)
    matcher = Matcher(config)
    with Session(engine) as s:
        (feed,) = store.list_feeds(s)
        items = []
        for i, title in enumerate(titles):
            article = CleanArticle(
                fingerprint=f"{title}-{at.isoformat()}-{i}",
                canonical_url=f"https://harbourgazette.example/{at:%H%M}/{i}",
                story_key=str(i),
                feed_url=feed.url,
                source="Harbour Gazette",
                title=title,
                summary=summary,
                body="",
                url=f"https://harbourgazette.example/{at:%H%M}/{i}?a=1&b=2",
                author=None,
                published_at=at - timedelta(minutes=i),
                fetched_at=at,
            )
            items.append((article, [matcher.to_store(h, article) for h in matcher.match(article)]))
        # The articles share one summary, so the grouping would call them one story told
        # under several headlines; at threshold 1.0 only identical copies are one story, and
        # each title here stays a story of its own, as the tests mean.
        counts = store.store_articles(
            s, feed_id=feed.id or 0, articles=items, now=at, story_threshold=1.0
        )
        s.commit()
    return counts.matches
