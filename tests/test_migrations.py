"""Every schema change is an Alembic migration that upgrades a store with data in it, on
SQLite and PostgreSQL: each revision from the one before (and back, and up again), with
nothing lost on the way, and the commands working on what was stored before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, func, insert, inspect, select
from sqlmodel import Session

from newswatch import models, store
from newswatch.models import CleanArticle, utcnow
from newswatch.prune import prune_articles

THEN = datetime(2024, 10, 18, 9, 0, tzinfo=UTC)


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(store.db.MIGRATIONS))
    return cfg


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def move(engine: Engine, to: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    with store.db.migration_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, to)


def fill_first_schema(engine: Engine) -> None:
    """A store as the first revision made it: a feed, a rule, two articles (one matched,
    with its alert sent), the feeds that carried them."""
    meta = MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(
            insert(t["feed"]),
            [
                {
                    "id": 1,
                    "url": "https://harbour.example/rss",
                    "name": "Harbour Gazette",
                    "title": "",
                    "health": "ok",
                    "consecutive_failures": 0,
                    "entries_seen": 2,
                    "gone": False,
                },
            ],
        )
        conn.execute(
            insert(t["rule"]),
            [
                {
                    "id": "uk-china-visit",
                    "query": "UK AND China AND visit",
                    "name": "",
                    "updated_at": THEN,
                }
            ],
        )
        conn.execute(
            insert(t["article"]),
            [
                {
                    "id": 1,
                    "fingerprint": "lammy",
                    "canonical_url": "https://harbour.example/lammy",
                    "story_key": "lammy",
                    "feed_id": 1,
                    "source": "Harbour Gazette",
                    "title": "Lammy visits Beijing",
                    "summary": "He met Wang Yi in Beijing.",
                    "body": "",
                    "url": "https://harbour.example/lammy",
                    "author": None,
                    "published_at": THEN,
                    "fetched_at": THEN,
                },
                {
                    "id": 2,
                    "fingerprint": "dredge",
                    "canonical_url": "https://harbour.example/d",
                    "story_key": "dredge",
                    "feed_id": 1,
                    "source": "Harbour Gazette",
                    "title": "Harbour dredging begins",
                    "summary": "A contract was awarded.",
                    "body": "",
                    "url": "https://harbour.example/d",
                    "author": None,
                    "published_at": THEN,
                    "fetched_at": THEN,
                },
            ],
        )
        conn.execute(
            insert(t["article_source"]),
            [{"article_id": a, "feed_id": 1, "seen_at": THEN} for a in (1, 2)],
        )
        conn.execute(
            insert(t["match"]),
            [
                {
                    "id": 1,
                    "article_id": 1,
                    "rule_id": "uk-china-visit",
                    "terms": ["UK", "China", "visit"],
                    "matched_at": THEN,
                }
            ],
        )
        conn.execute(
            insert(t["delivery"]),
            [
                {
                    "match_id": 1,
                    "channel": "desk",
                    "status": "sent",
                    "attempts": 1,
                    "created_at": THEN,
                    "next_attempt_at": THEN,
                    "sent_at": THEN,
                }
            ],
        )
        if conn.dialect.name == "postgresql":  # the ids given above: the sequences follow
            for name in ("feed", "article", "match"):
                sequence = func.pg_get_serial_sequence(name, "id")
                conn.execute(select(func.setval(sequence, func.max(t[name].c.id))))


def row_counts(engine: Engine) -> dict[str, int]:
    names = [
        n for n in inspect(engine).get_table_names() if store.described_by_models(n, "table", None)
    ]
    meta = MetaData()
    meta.reflect(engine, only=names)
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in meta.tables.items()
            if name != "alembic_version"
        }


# The tables a revision drops on purpose (their data is derived: 0009's downgrade cuts the
# story bands again from the stored sketches).
DROPPED: dict[str, set[str]] = {"0009": {"story_band"}}


def test_every_revision_upgrades_from_the_one_before_with_data_in_it(
    database_url: str,
) -> None:
    engine = store.make_engine(database_url)
    first, *later = revisions()
    move(engine, first)
    fill_first_schema(engine)
    counts = row_counts(engine)
    previous = first
    for revision in later:
        move(engine, revision)
        move(engine, previous, down=True)  # and back: its downgrade keeps the data too
        move(engine, revision)
        now = row_counts(engine)
        assert set(counts) - set(now) == DROPPED.get(revision, set()), revision
        assert {k: now[k] for k in counts if k in now} == {
            k: v for k, v in counts.items() if k in now
        }, revision
        counts, previous = now, revision
    engine.dispose()


def test_the_commands_work_on_a_store_made_before_the_search_index(database_url: str) -> None:
    """A store from before migration 0007: its articles are found by --search once
    upgraded (the index is filled from them), new ones too, and prune keeps the matched."""
    engine = store.make_engine(database_url)
    before_search = revisions()[revisions().index("0007") - 1]
    move(engine, revisions()[0])
    fill_first_schema(engine)
    move(engine, before_search)
    store.migrate(engine)
    now = utcnow()
    fresh = CleanArticle(
        fingerprint="reeves",
        canonical_url="https://harbour.example/reeves",
        story_key="r",
        feed_url="https://harbour.example/rss",
        source="Harbour Gazette",
        title="Reeves to visit China",
        summary="Trade talks with Wang Yi's ministry.",
        body="",
        url="https://harbour.example/reeves",
        author=None,
        published_at=now,
        fetched_at=now,
    )
    hit = models.MatchToStore("uk-china-visit", ["UK", "China", "visit"], ["desk"])
    with store.session_scope(engine) as s:
        store.store_articles(s, feed_id=1, articles=[(fresh, [hit])], now=now)
    with Session(engine) as s:
        found = [r.title for r in store.recent_matches(s, search="wang yi")]
        old_only = [r.title for r in store.recent_matches(s, search="Beijing")]
    report = prune_articles(engine, older_than=timedelta(days=90), now=now)
    with Session(engine) as s:
        after_prune = [r.title for r in store.recent_matches(s)]
        gone = store.recent_matches(s, search="dredging")
    engine.dispose()
    assert found == ["Reeves to visit China", "Lammy visits Beijing"]
    assert old_only == ["Lammy visits Beijing"]
    assert report.articles == 1  # the old unmatched article about dredging
    assert after_prune == ["Reeves to visit China", "Lammy visits Beijing"]
    assert gone == []
