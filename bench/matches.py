"""`newswatch matches --search` on a big store: a million generated articles in SQLite.

Builds the store through the real migrations (the FTS5 index is filled by its triggers as
the articles are inserted), then times, interleaved so the ratios compare runs of the same
moment on a shared machine: the console script with --search, the console script listing
without it, and the search query alone beside the LIKE scan it replaces. Prints one JSON
object with the figures and SQLite's query plan:

    {"articles": 1000000, "matches": 100000, "phrase_in": 1003, "build_s": ...,
     "seconds": {"cli_search": {"min": ..., "median": ...}, "cli_list": {...},
                 "query_search": {...}, "query_like_scan": {...}},
     "rows": {"cli_search": 20, ...}, "search_over_list": ..., "like_scan_over_search": ...,
     "plan": ["SEARCH article USING INTEGER PRIMARY KEY (rowid=?)", ...]}

    .venv/bin/python bench/matches.py                       # a million articles
    .venv/bin/python bench/matches.py --articles 20000 --repeat 2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project's `rules` package, not bench/rules.py

CONSOLE_SCRIPT = Path(sys.executable).with_name("newswatch")
PHRASE = "Wang Yi"
# a phrase in one article in a thousand (a tenth of those matched, as of all articles), a
# word in a third of them, and a word in none (a scan must read every matched article)
SEARCHES = {"rare": PHRASE, "common": "visit", "absent": "Ulaanbaatar"}
START = datetime(2024, 1, 1, tzinfo=UTC)


def build(path: Path, *, articles: int, match_every: int, phrase_every: int) -> dict[str, int]:
    """The store: migrated by newswatch, filled with plain sqlite3 in one transaction."""
    from newswatch import store

    store.open_database(f"sqlite:///{path}").dispose()
    rng = random.Random(18)
    vocabulary = [
        f"{a}{b}"
        for a in ("har", "bor", "mina", "tel", "quay", "ferr")
        for b in ("ona", "ide", "ux", "amo", "ett", "ia", "ol", "est")
    ] + [
        "minister",
        "talks",
        "trade",
        "port",
        "visit",
        "summit",
        "rates",
        "budget",
    ]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    stamp = START.strftime("%Y-%m-%d %H:%M:%S.000000")
    conn.execute(
        "INSERT INTO feed (id, url, name, title, health, consecutive_failures, entries_seen,"
        " gone) VALUES (1, 'https://bench.example/rss', 'Bench Wire', '', 'ok', 0, 0, 0)"
    )
    conn.execute(
        "INSERT INTO rule (id, query, name, updated_at) VALUES ('bench', 'port', '', ?)",
        (stamp,),
    )
    counts = {"matches": 0, "phrase_in": 0}

    def rows() -> Any:
        for n in range(1, articles + 1):
            words = rng.choices(vocabulary, k=24)
            if n % phrase_every == 0:
                words[rng.randrange(20)] = PHRASE
                counts["phrase_in"] += 1
            when = (START + timedelta(seconds=30 * n)).strftime("%Y-%m-%d %H:%M:%S.000000")
            yield (
                n,
                f"bench-{n}",
                f"https://bench.example/{n}",
                " ".join(words[:8]).capitalize(),
                " ".join(words[8:]),
                f"https://bench.example/{n}",
                when,
                when,
            )

    conn.executemany(
        "INSERT INTO article (id, fingerprint, canonical_url, story_key, feed_id, source, title,"
        " summary, body, url, published_at, fetched_at)"
        " VALUES (?, ?, ?, '', 1, 'Bench Wire', ?, ?, '', ?, ?, ?)",
        rows(),
    )
    matched = range(match_every, articles + 1, match_every)
    conn.executemany(
        "INSERT INTO match (article_id, rule_id, terms, matched_at)"
        " SELECT id, 'bench', '[\"port\"]', fetched_at FROM article WHERE id = ?",
        ((n,) for n in matched),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    counts["matches"] = len(matched)
    return counts


def cli(url: str, *args: str) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    start = time.perf_counter()
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "matches", *args, "--format", "json"],
        env={**env, "NEWSWATCH_DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, len(json.loads(done.stdout))


def query(url: str, text: str, *, like: bool) -> tuple[float, int]:
    """The search alone: through the word index, or as the LIKE scan it replaces."""
    from sqlalchemy import or_
    from sqlmodel import Session, col

    from newswatch import store
    from newswatch.models import Article

    engine = store.make_engine(url)
    with Session(engine) as session:
        start = time.perf_counter()
        if like:
            pattern = f"%{text}%"
            stmt = store.matches_statement(session, limit=20).where(
                or_(col(Article.title).like(pattern), col(Article.summary).like(pattern))
            )
        else:
            stmt = store.matches_statement(session, limit=20, search=text)
        found = len(session.exec(stmt).all())
        elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed, found


def plan(url: str, text: str) -> list[str]:
    from sqlmodel import Session

    from newswatch import store

    engine = store.make_engine(url)
    with Session(engine) as session:
        stmt = store.matches_statement(session, limit=20, search=text)
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        rows = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
    engine.dispose()
    return [str(row[3]) for row in rows]


def spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 4), "median": round(statistics.median(values), 4)}


def measure(articles: int, repeat: int, workdir: Path) -> dict[str, Any]:
    path = workdir / "newswatch.db"
    url = f"sqlite:///{path}"
    started = time.perf_counter()
    counts = build(path, articles=articles, match_every=10, phrase_every=997)
    build_s = time.perf_counter() - started
    runs: dict[str, Any] = {"cli_list": lambda: cli(url)}
    for name, text in SEARCHES.items():
        runs[f"cli_search_{name}"] = lambda text=text: cli(url, "--search", text)
        runs[f"query_search_{name}"] = lambda text=text: query(url, text, like=False)
        runs[f"query_like_scan_{name}"] = lambda text=text: query(url, text, like=True)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    found: dict[str, int] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            elapsed, found[name] = run()
            seconds[name].append(elapsed)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "articles": articles,
        **counts,
        "build_s": round(build_s, 1),
        "repeat": repeat,
        "seconds": {name: spread(values) for name, values in seconds.items()},
        "rows": found,
        "searches": SEARCHES,
        "search_over_list": {
            name: round(median[f"cli_search_{name}"] / median["cli_list"], 3) for name in SEARCHES
        },
        "like_scan_over_search": {
            name: round(median[f"query_like_scan_{name}"] / median[f"query_search_{name}"], 3)
            for name in SEARCHES
        },
        "plan": {name: plan(url, text) for name, text in SEARCHES.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as workdir:
        print(json.dumps(measure(args.articles, args.repeat, Path(workdir))))


if __name__ == "__main__":
    main()
