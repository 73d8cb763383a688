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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, before bench/

from newswatch.store import make_engine, migrate, session_scope
from newswatch.store.stories import DatabaseBands
from newswatch.stories import assign, sketch

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


def fill(engine: Engine, count: int, rng: random.Random) -> None:
    with session_scope(engine) as session:
        session.connection().execute(
            text(
                "INSERT INTO feed (id, url, name, title, health, consecutive_failures, "
                "entries_seen, gone) VALUES (1, 'https://bench.example/rss', 'b', '', 'ok', 0, "
                "0, false)"
            )
        )
        bands = DatabaseBands(session)
        for i in range(count):
            title, lead = article(rng)
            when = NOW - timedelta(minutes=rng.randrange(48 * 60))
            bands.article_id = i + 1
            session.connection().execute(
                text(
                    "INSERT INTO article (id, fingerprint, story_key, feed_id, source, title, "
                    "summary, body, published_at, fetched_at) VALUES (:id, :fp, '', 1, 'b', "
                    ":title, :lead, '', :t, :t)"
                ),
                {"id": i + 1, "fp": f"fp{i}", "title": title, "lead": lead, "t": when},
            )
            assign(bands, sketch(title, lead), published_at=when, seed=f"fp{i}")


def per_article_ms(engine: Engine, count: int, new: int, rng: random.Random) -> float:
    items = [article(rng) for _ in range(new)]
    with session_scope(engine) as session:
        bands = DatabaseBands(session, article_id=1)
        started = time.perf_counter()
        for i, (title, lead) in enumerate(items):
            assign(bands, sketch(title, lead), published_at=NOW, seed=f"new{count}-{i}")
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
        for _ in range(3):  # interleaved, so both sizes see the same moments of a busy machine
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
