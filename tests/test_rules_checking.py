"""`newswatch rules check` warns about rules that would flood a desk, and `newswatch rules test`
tries one rule (or a query with the config's lists) on the stored articles, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from tests.support.alerts_data import NOW, make_config, seed

HOOK = {"hook": "url: json://127.0.0.1:9/alerts"}
CONSOLE_SCRIPT = Path(sys.executable).with_name("newswatch")

RULES = """lists:
  storms: [storm, gale, hurricane]
rules:
  - id: storms
    query: '@storms'
  - id: filler
    query: 'the AND of -Lammy'
  - id: names
    query: 'US OR May'
"""


def newswatch(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_DATABASE_URL"] = database_url
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stored_news(engine: Engine, tmp_path: Path) -> Path:
    """One UK–China visit among 40 stored articles, 12 of them about storms, hours apart."""
    config = make_config(tmp_path, HOOK, more=RULES)
    for hour in range(12):
        storm = f"Storm number {hour} hits the coast"
        seed(engine, config, [storm], at=NOW - timedelta(hours=hour))
    others = ["UK minister visits China", *(f"Markets steady on day {n}" for n in range(27))]
    seed(engine, config, others, at=NOW - timedelta(minutes=30))
    return tmp_path / "newswatch.yaml"


def test_check_warns_about_stop_words_and_floods_but_passes(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = stored_news(engine, tmp_path)
    done = newswatch(database_url, "rules", "check", "-c", str(path))
    assert done.returncode == 0, done.stderr
    assert "OK (1 feeds, 4 rules" in done.stdout
    warnings = done.stderr.splitlines()
    assert warnings == [
        f"warning: {path}: rule 'storms': matched 12 of the 40 newest stored articles (30%, "
        "more than 5%): it would alert on too much of the news",
        f"warning: {path}: rule 'filler': every term it needs is a stop word (the, of): it "
        "would match almost every article",
    ]
    # 1 of 40 (2.5%) is a desk's rule; capitalised terms (US, May) are names, not stop words
    assert "uk-china-visit" not in done.stderr
    assert "'names'" not in done.stderr


def test_a_few_stored_articles_are_no_flood(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """3 storms among 28 stored articles (11%) may be a quiet rule on a stormy day: too few
    articles to say it would alert on more than 5% of the news."""
    config = make_config(tmp_path, HOOK, more=RULES)
    stories = [f"Storm number {n} hits the coast" for n in range(3)]
    stories += [f"Markets steady on day {n}" for n in range(25)]
    seed(engine, config, stories, at=NOW - timedelta(minutes=30))
    path = tmp_path / "newswatch.yaml"

    done = newswatch(database_url, "rules", "check", "-c", str(path))

    assert done.returncode == 0, done.stderr
    assert "'storms'" not in done.stderr
    assert "'filler'" in done.stderr  # the check ran, and still judges the words


def test_check_with_no_stored_articles_only_judges_the_words(tmp_path: Path) -> None:
    config = make_config(tmp_path, HOOK, more=RULES)
    assert config.rules
    database = tmp_path / "absent.db"
    done = newswatch(
        f"sqlite:///{database}", "rules", "check", "-c", str(tmp_path / "newswatch.yaml")
    )
    assert done.returncode == 0, done.stderr
    assert [line.split(": rule ")[1][:8] for line in done.stderr.splitlines()] == ["'filler'"]
    assert not database.exists()  # a check creates no database


def test_rule_test_over_stored_articles_shows_the_count_and_five_newest_hits(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = stored_news(engine, tmp_path)
    done = newswatch(database_url, "rules", "test", "--config", str(path), "storms")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "storms: 12 hits in 40 stored articles"
    assert lines[1] == "newest 5 hits:"
    titles = [line.strip() for line in lines if line.strip().startswith("title:")]
    assert titles == [f"title:   «Storm» number {hour} hits the coast" for hour in range(5)]
    assert "https://harbourgazette.example/" in lines[2]
    assert "Traceback" not in done.stderr


def test_a_query_with_the_configs_lists_over_stored_articles(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = stored_news(engine, tmp_path)
    hit = newswatch(
        database_url, "rules", "test", "-c", str(path), "--query", "@storms NEAR/5 coast"
    )
    assert hit.returncode == 0, hit.stderr
    assert hit.stdout.startswith("query: 12 hits in 40 stored articles\n")
    miss = newswatch(database_url, "rules", "test", "-c", str(path), "--query", "hurricane")
    assert (miss.returncode, miss.stdout) == (
        1,
        "query: 0 hits in 40 stored articles\n  not found: hurricane\n",
    )
    bad = newswatch(database_url, "rules", "test", "-c", str(path), "--query", "@gales AND")
    assert bad.returncode == 2
    assert "unknown list '@gales' at column 1" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_rule_that_matches_no_stored_article_names_the_terms_found_and_not(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """What to change in a rule that never fires: the terms no stored article holds."""
    path = stored_news(engine, tmp_path)
    query = "storm AND coast AND title:hurricane"
    done = newswatch(database_url, "rules", "test", "-c", str(path), "--query", query)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "query: 0 hits in 40 stored articles",
        "  found: storm (12 articles), coast (12 articles)",
        "  not found: title:hurricane",
    ]
    rule = newswatch(database_url, "rules", "test", "-c", str(path), "uk-china-visit")
    assert rule.returncode == 0  # a rule that matched shows its hits, not its terms
    assert "found:" not in rule.stdout
