"""Shared fixtures: real local peers (feed server, SMTP, PostgreSQL) and databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newswatch import store
from tests.support.feedserver import FeedServer, running_feed_server
from tests.support.kinds import MODULES, is_slow, kind_of
from tests.support.postgres import PG_ADMIN_URL, postgres_or_skip
from tests.support.smtp import SmtpServer, running_smtp_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test unit, integration or e2e, and slow where it is (tests/support/kinds.py).

    A module missing from the table gets no kind here; tests/test_suite_layout.py fails on it.
    """
    for item in items:
        module = item.path.stem
        if module not in MODULES:
            continue
        markers = {mark.name for mark in item.iter_markers()}
        kind = kind_of(module, getattr(item, "fixturenames", ()), markers)
        item.add_marker(getattr(pytest.mark, kind))
        if is_slow(module, item.name):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """Prefect's test harness: a real temporary API server, started once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with running_feed_server() as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    postgres_or_skip()
    name = f"newswatch_test_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'newswatch.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = store.make_engine(database_url)
    store.migrate(engine)
    yield engine
    engine.dispose()
