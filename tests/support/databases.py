"""The stores tests run on: which kinds per module, and a migrated template per kind.

Migrating through every revision costs far more than copying the result, so each test
session (each xdist worker) migrates once per kind into a template, and every test that
takes `engine` starts from a copy: a file copy on SQLite, `CREATE DATABASE ... TEMPLATE`
on PostgreSQL. The migration tests take `database_url` alone and still walk every revision
from an empty store.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newswatch import store
from tests.support.postgres import PG_ADMIN_URL

CHECKOUT = Path(__file__).resolve().parents[2]

SQLITE, POSTGRESQL = "sqlite", "postgresql"

# Modules whose tests run on SQLite and PostgreSQL, because what they test is the SQL the two
# dialects run differently; every other module's store tests run on SQLite only.
BOTH_DATABASES = {
    "test_store": "queries, upserts and the schema the migrations build",
    "test_migrations": "every revision's DDL on each dialect",
    "test_matches_cli": "search: SQLite FTS5 against PostgreSQL full-text",
    "test_notify_outbox": "claiming due deliveries (row locks on PostgreSQL)",
    "test_outbox_safety": "the outbox under crashes and concurrent claims",
    "test_stories": "story grouping's band queries and the window",
    "test_prune": "bulk deletes that keep matched stories",
    "test_updates": "same-guid updates: upserts per dialect",
}


def kinds_for(module: str) -> list[str]:
    return [SQLITE, POSTGRESQL] if module in BOTH_DATABASES else [SQLITE]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def make_sqlite_template(folder: Path) -> Path:
    """A SQLite file migrated to the newest revision, its WAL folded in, ready to copy."""
    path = folder / "template.db"
    engine = store.make_engine(sqlite_url(path))
    store.migrate(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def copy_sqlite_template(template: Path, path: Path) -> None:
    shutil.copyfile(template, path)


def _admin() -> str:
    return PG_ADMIN_URL.replace("+psycopg", "")


def pg_database_url(name: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def create_pg_database(name: str, template: str | None = None) -> None:
    import psycopg

    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(_admin(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}')


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_admin(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def pg_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (empty, or a copy of `template`), dropped afterwards."""
    name = f"newswatch_test_{uuid.uuid4().hex[:10]}"
    create_pg_database(name, template)
    try:
        yield pg_database_url(name)
    finally:
        drop_pg_database(name)


@contextmanager
def pg_template(worker: str) -> Iterator[str]:
    """A migrated PostgreSQL database to copy from, named per checkout and xdist worker.

    `CREATE DATABASE ... TEMPLATE` fails while anyone else is connected to the template, so
    two workers never share one, and the suites of two checkouts running at once on one
    server (a second worktree, CI beside a session) never drop each other's. A template left
    by a killed session of the same checkout is replaced.
    """
    checkout = hashlib.sha256(str(CHECKOUT).encode()).hexdigest()[:8]
    name = f"newswatch_template_{checkout}_{worker}"
    drop_pg_database(name)
    create_pg_database(name)
    try:
        engine = store.make_engine(pg_database_url(name))
        store.migrate(engine)
        engine.dispose()
        yield name
    finally:
        drop_pg_database(name)
