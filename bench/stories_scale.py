"""Does grouping one new article cost more when more articles are stored? Time per new
article (sketch, band lookup, insert) against a SQLite store holding `--small` and then
`--large` sketched articles of the last two days, measured side by side in one run.
Prints one JSON object:

    {"stored": {"small": 1000, "large": 10000}, "new_articles": 300,
     "ms_per_article": {"small": ..., "large": ...}, "large_over_small": ...}

    .venv/bin/python bench/stories_scale.py
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, before bench/

from newswatch.store import make_engine, migrate, session_scope
from newswatch.store.stories import assign_stories
from newswatch.stories import DEFAULT_THRESHOLD, DEFAULT_WINDOW, sketch

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
WORDS = [
    "minister",
    "visit",
    "talks",
    "trade",
    "rates",
    "bank",
    "storm",
    "quake",
    "police",
    "court",
    "vote",
    "market",
    "oil",
    "shares",
    "border",
    "summit",
    "health",
    "school",
    "rail",
    "port",
    "strike",
    "plan",
    "budget",
    "deal",
    "power",
    "water",
    "city",
    "league",
    "coach",
    "film",
    "price",
    "energy",
    "climate",
    "fire",
    "flood",
    "army",
    "drone",
    "chip",
    "bond",
    "debt",
    "tax",
    "farm",
]


def article(rng: random.Random) -> tuple[str, str]:
    """A random headline and 50-word opening text: stories that share little."""
    title = " ".join(rng.choices(WORDS, k=8)) + f" {rng.randrange(10**9)}"
    lead = " ".join(rng.choices(WORDS, k=50)) + f" {rng.randrange(10**9)}"
    return title, lead


def insert_articles(
    session: Session, first_id: int, items: list[tuple[str, str, datetime]]
) -> None:
    session.connection().execute(
        text(
            "INSERT INTO article (id, fingerprint, story_key, feed_id, source, title, summary, "
            "body, published_at, fetched_at) VALUES (:id, :fp, '', 1, 'b', :title, :lead, '', "
            ":t, :t)"
        ),
        [
            {"id": first_id + i, "fp": f"fp{first_id + i}", "title": t, "lead": lead, "t": when}
            for i, (t, lead, when) in enumerate(items)
        ],
    )


def group(session: Session, first_id: int, items: list[tuple[str, str, datetime]]) -> None:
    assign_stories(
        session,
        articles=[
            (first_id + i, f"fp{first_id + i}", sketch(title, lead), when)
            for i, (title, lead, when) in enumerate(items)
        ],
        threshold=DEFAULT_THRESHOLD,
        window=DEFAULT_WINDOW,
    )


def fill(engine: Engine, count: int, rng: random.Random) -> None:
    """`count` articles of the last two days, grouped as cycles of 100 new articles would."""
    with session_scope(engine) as session:
        session.connection().execute(
            text(
                "INSERT INTO feed (id, url, name, title, health, consecutive_failures, "
                "entries_seen, gone) VALUES (1, 'https://bench.example/rss', 'b', '', 'ok', 0, "
                "0, false)"
            )
        )
        for first in range(1, count + 1, 100):
            items = [
                (*article(rng), NOW - timedelta(minutes=rng.randrange(48 * 60)))
                for _ in range(min(100, count + 1 - first))
            ]
            insert_articles(session, first, items)
            group(session, first, items)


def per_article_ms(engine: Engine, count: int, new: int, rng: random.Random) -> float:
    """One feed's `new` articles grouped in one call, as a cycle stores them."""
    items = [(*article(rng), NOW) for _ in range(new)]
    with session_scope(engine) as session:
        insert_articles(session, count + 1, items)
        started = time.perf_counter()
        group(session, count + 1, items)
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed / new * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(18)
    with tempfile.TemporaryDirectory() as folder:
        engines = {}
        for name, count in (("small", args.small), ("large", args.large)):
            engine = make_engine(f"sqlite:///{Path(folder) / name}.db")
            migrate(engine)
            fill(engine, count, rng)
            engines[name] = engine
        timings: dict[str, list[float]] = {"small": [], "large": []}
        for _ in range(5):  # interleaved, so both sizes see the same moments of a busy machine
            for name, count in (("small", args.small), ("large", args.large)):
                timings[name].append(per_article_ms(engines[name], count, args.new, rng))
        best = {name: min(values) for name, values in timings.items()}
    print(
        json.dumps(
            {
                "stored": {"small": args.small, "large": args.large},
                "new_articles": args.new,
                "ms_per_article": {k: round(v, 3) for k, v in best.items()},
                "large_over_small": round(best["large"] / best["small"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
