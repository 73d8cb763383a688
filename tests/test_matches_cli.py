"""`newswatch matches` as a user runs it, on SQLite and PostgreSQL: newest first, by rule,
since a time, by words in the article, as a table, JSON or CSV, every time with its zone;
and the query plans that keep it fast on a big store."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import models, store
from newswatch.models import CleanArticle, utcnow

ROOT = Path(__file__).resolve().parent.parent
CONSOLE_SCRIPT = Path(sys.executable).with_name("newswatch")
CONFIG = """\
feeds:
  - name: Harbour Gazette
    url: http://127.0.0.1:9/feed.xml
rules:
  - id: uk-china-visit
    query: UK AND China AND visit
    channels: [desk]
  - id: harbour
    query: harbour
    channels: [desk]
channels:
  desk:
    url: json://127.0.0.1:9/hook
"""
# (key, rule, title, summary, days ago)
STORED = [
    ("lammy", "uk-china-visit", "Lammy visits Beijing", "He met Wang Yi; UK and China talk.", 2),
    ("reeves", "uk-china-visit", "Reeves to visit China", "Trade talks in Beijing, UK says.", 5),
    ("dredge", "harbour", "Harbour dredging begins", "The Wangaratta firm won the bid.", 1),
    ("pier", "harbour", "Harbour pier reopens", "Wang Yi was not there.", 30),
]


def fill(engine: Engine) -> None:
    now = utcnow()
    with store.session_scope(engine) as s:
        store.sync_feeds(s, feeds=[("http://127.0.0.1:9/feed.xml", "Harbour Gazette")])
        store.sync_rules(
            s,
            rules=[("uk-china-visit", "UK AND China AND visit", ""), ("harbour", "harbour", "")],
            now=now,
        )
        (feed,) = store.list_feeds(s)
        feed_id, feed_url = feed.id or 0, feed.url
    for key, rule, title, summary, days in STORED:
        when = now - timedelta(days=days)
        clean = CleanArticle(
            fingerprint=key,
            canonical_url=f"https://harbour.example/{key}",
            story_key=key,
            feed_url=feed_url,
            source="Harbour Gazette",
            title=title,
            summary=summary,
            body="",
            url=f"https://harbour.example/{key}",
            author=None,
            published_at=when,
            fetched_at=when,
        )
        hit = models.MatchToStore(rule, [rule], ["desk"])
        with store.session_scope(engine) as s:
            store.store_articles(s, feed_id=feed_id, articles=[(clean, [hit])], now=when)


@pytest.fixture
def stored(engine: Engine, database_url: str, tmp_path: Path) -> dict[str, str]:
    fill(engine)
    (tmp_path / "newswatch.yaml").write_text(CONFIG, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    return {**clean, "NEWSWATCH_DATABASE_URL": database_url, "TZ": "UTC"}


def matches(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "matches", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_matches_are_listed_newest_first_with_their_time_zone(
    stored: dict[str, str], tmp_path: Path
) -> None:
    done = matches(stored, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[5] for line in lines] == ["Harbour", "Lammy", "Reeves", "Harbour"]
    assert "dredging" in lines[0]
    assert "pier" in lines[3]
    assert all(line[16:22] == "+00:00" for line in lines)  # 2024-10-18 09:00+00:00


def test_rule_since_and_search_narrow_the_list(stored: dict[str, str], tmp_path: Path) -> None:
    by_rule = matches(stored, tmp_path, "--rule", "harbour")
    recent = matches(stored, tmp_path, "--since", "7d")
    # a phrase, any case: "Wang Yi" is in two summaries; "Wangaratta" is not the word "Wang"
    words = matches(stored, tmp_path, "--search", "wang yi")
    both = matches(stored, tmp_path, "--search", "Wang Yi", "--rule", "uk-china-visit")
    nothing = matches(stored, tmp_path, "--search", "volcano")
    assert [r.returncode for r in (by_rule, recent, words, both, nothing)] == [0] * 5
    assert ["dredge" in by_rule.stdout, "pier" in by_rule.stdout] == [True, True]
    assert "lammy" not in by_rule.stdout
    assert "pier" not in recent.stdout
    assert len(recent.stdout.splitlines()) == 3
    assert [line.rsplit("/", 1)[1] for line in words.stdout.splitlines()] == ["lammy", "pier"]
    assert [line.rsplit("/", 1)[1] for line in both.stdout.splitlines()] == ["lammy"]
    assert nothing.stdout == "no matches for these filters\n"


def test_json_and_csv_give_times_with_their_offset_in_the_zone_asked_for(
    stored: dict[str, str], tmp_path: Path
) -> None:
    as_json = matches(stored, tmp_path, "--format", "json", "--tz", "Asia/Tokyo")
    as_csv = matches(stored, tmp_path, "--format", "csv", "--rule", "uk-china-visit")
    assert as_json.returncode == 0, as_json.stderr
    records = json.loads(as_json.stdout)
    assert [r["url"].rsplit("/", 1)[1] for r in records] == ["dredge", "lammy", "reeves", "pier"]
    assert all(r["matched_at"].endswith("+09:00") for r in records)
    assert records[1]["rule"] == "uk-china-visit"
    assert records[1]["source"] == "Harbour Gazette"
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["title"] for r in rows] == ["Lammy visits Beijing", "Reeves to visit China"]
    assert all(r["matched_at"].endswith("+00:00") for r in rows)
    assert rows[0]["published_at"].endswith("+00:00")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "last week"], "error: cannot read the time 'last week': use 7d, 12h"),
        (["--search", "!!"], "error: cannot search for '!!': it holds no word"),
        (["--tz", "Mars/Olympus"], "error: no time zone 'Mars/Olympus'"),
    ],
)
def test_a_filter_that_cannot_be_read_is_one_line_and_exit_2(
    stored: dict[str, str], tmp_path: Path, args: list[str], says: str
) -> None:
    done = matches(stored, tmp_path, *args)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(says)


def plan(engine: Engine, **filters: str) -> str:
    with Session(engine) as session:
        stmt = store.matches_statement(session, limit=20, **filters)
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        conn = session.connection()
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            return " | ".join(row[3] for row in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")
        return " | ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


def test_the_search_and_the_newest_first_order_are_read_from_indexes(engine: Engine) -> None:
    """The plans of `matches` and `matches --search`, which keep them fast on a big store
    (bench/matches.py times them on a million articles). SQLite reads the newest matches
    from the end of the (matched_at, id) index, and finds searched words in FTS5, reading
    only those articles and their matches. PostgreSQL can use the GIN index on the
    articles' words (its planner prefers a scan on a table this small: scans are off)."""
    fill(engine)
    listing = plan(engine)
    searched = plan(engine, search="Wang Yi")
    if engine.dialect.name == "sqlite":
        assert "SCAN match USING INDEX ix_match_matched_at" in listing
        assert "TEMP B-TREE" not in listing
        assert "SCAN article_fts VIRTUAL TABLE INDEX" in searched
        scans = [step for step in searched.split(" | ") if step.startswith("SCAN ")]
        assert all("VIRTUAL TABLE" in step for step in scans), searched  # nothing read whole
    else:
        assert "ix_match_matched_at" in listing
        assert "ix_article_search" in searched


def test_the_readme_store_commands_run_as_written(stored: dict[str, str], tmp_path: Path) -> None:
    """The README's "Stored matches" block, verbatim, on a store with matches in it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### Stored matches, and a store that lasts\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.group(1).splitlines()]
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    results = {
        line: subprocess.run(
            ["bash", "-c", line], cwd=tmp_path, env=stored, capture_output=True, text=True
        )
        for line in lines
        if line
    }
    assert len(results) == 4
    for line, done in results.items():
        assert done.returncode == 0, (line, done.stderr)
        assert done.stderr == "", line
    week, searched, as_csv, pruned = results.values()
    assert len(week.stdout.splitlines()) == 3
    assert "Lammy visits Beijing" in searched.stdout
    assert "Reeves" not in searched.stdout
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 4
    assert all(r["matched_at"][-6:] in {"+00:00", "+01:00"} for r in rows)  # London
    assert pruned.stdout.startswith("removed 0 article(s) that no rule matched")  # all four matched
