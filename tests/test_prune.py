"""`newswatch prune --older-than 90d` on SQLite and PostgreSQL: old articles nobody matched
go, matched ones stay with their matches and alerts, and so does everything recent."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from newswatch.models import Article, ArticleSource, Delivery, Match, utcnow
from newswatch.prune import prune_articles
from tests.support.aged_store import fill, stored_keys

CONSOLE_SCRIPT = Path(sys.executable).with_name("newswatch")


def test_prune_removes_old_unmatched_articles_and_keeps_matched_and_recent_ones(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    fill(engine, utcnow())
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "prune", "--older-than", "90d"],
        cwd=tmp_path,
        env={**env, "NEWSWATCH_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("removed 2 article(s) that no rule matched, stored before ")
    assert stored_keys(engine) == {"old-visit", "recent-fair"}
    with Session(engine) as s:
        (match,) = s.exec(select(Match)).all()
        assert s.get(Article, match.article_id).fingerprint == "old-visit"  # type: ignore[union-attr]
        assert len(s.exec(select(Delivery)).all()) == 1
        assert len(s.exec(select(ArticleSource)).all()) == 4  # two feeds of the two kept


def test_prune_works_in_batches_and_a_second_prune_finds_nothing(engine: Engine) -> None:
    now = utcnow()
    fill(engine, now)
    first = prune_articles(engine, older_than=timedelta(days=90), now=now, batch=1)
    again = prune_articles(engine, older_than=timedelta(days=90), now=now, batch=1)
    assert (first.articles, again.articles) == (2, 0)
    assert stored_keys(engine) == {"old-visit", "recent-fair"}
    with Session(engine) as s:  # the feeds that carried the removed ones are forgotten too
        assert len(s.exec(select(ArticleSource)).all()) == 4


def test_prune_with_a_shorter_age_reaches_recent_articles_too(engine: Engine) -> None:
    now = utcnow()
    fill(engine, now)
    prune_articles(engine, older_than=timedelta(days=7), now=now)
    assert stored_keys(engine) == {"old-visit"}


def test_an_age_prune_cannot_read_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "prune", "--older-than", "ninety days"],
        cwd=tmp_path,
        env={**env, "NEWSWATCH_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == ("error: cannot read the age 'ninety days': use 90d, 12h, 30m or 2w\n")
    assert not (tmp_path / "newswatch.db").exists()  # nothing was opened, nothing removed
