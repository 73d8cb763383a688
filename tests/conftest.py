"""Shared fixtures: real local peers (feed server, SMTP, PostgreSQL) and databases."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from newswatch import store
from tests.support import databases
from tests.support.feedserver import FeedServer, running_feed_server
from tests.support.kinds import MODULES, first_rank, is_slow, kind_of
from tests.support.postgres import postgres_or_skip
from tests.support.prefect_template import shared_template
from tests.support.smtp import SmtpServer, running_smtp_server

# the `newswatch up` tests' fixtures (prefect_home, start_up)
pytest_plugins = ("tests.support.up_fixtures",)


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker gets a PREFECT_HOME of its own, removed at its end.

    Prefect keeps profiles and the temporary server's database there: global state that two
    workers running `newswatch run` or `up` at once must not share.
    """
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is not None:
        home = tempfile.mkdtemp(prefix=f"newswatch-prefect-home-{worker}-")
        os.environ["PREFECT_HOME"] = home
        config.add_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` with kinds.GROUPS as the groups (tests/support/groups.py says why)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.support.groups import ModuleGroupScheduling

    return ModuleGroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test unit, integration or e2e, and slow where it is (its xdist group is
    the scheduler's, above); the longest tests go first (tests/support/kinds.py), so no
    worker starts one near the end.

    A module missing from the table gets no kind here; tests/test_suite_layout.py fails on it.
    """
    items.sort(key=lambda item: first_rank(item.path.stem, item.name))  # stable: else as found
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


@pytest.fixture(scope="session")
def prefect_server_url(prefect_api: None) -> str:
    """The session's Prefect server (the harness's) for child processes: `newswatch run` or
    the demo given it as PREFECT_API_URL run their flows there instead of each booting a
    temporary server. Tests about that temporary server start their own."""
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with running_feed_server() as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture(scope="session")
def worker_id_or_main(request: pytest.FixtureRequest) -> str:
    """The xdist worker's id (gw0, gw1, ...), or `main` in a run without xdist."""
    worker: str = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return worker


@pytest.fixture(scope="session")
def prefect_template(tmp_path_factory: pytest.TempPathFactory, worker_id_or_main: str) -> Path:
    """A Prefect home a server has started in once, shared by the session's xdist workers
    (tests/support/prefect_template.py); its `seed` copies it into a new home."""
    base = tmp_path_factory.getbasetemp()
    session = base if worker_id_or_main == "main" else base.parent
    return shared_template(session / "prefect-template")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once per session; `engine` copies it."""
    return databases.make_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def pg_template(worker_id_or_main: str) -> Iterator[str]:
    """A PostgreSQL store migrated once per session (per xdist worker); `engine` copies it."""
    postgres_or_skip()
    with databases.pg_template(worker_id_or_main) as name:
        yield name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`database_kind`: SQLite, and PostgreSQL too where the module is in BOTH_DATABASES."""
    if "database_kind" in metafunc.fixturenames:
        kinds = databases.kinds_for(metafunc.module.__name__.rsplit(".", 1)[-1])
        params = [
            pytest.param(k, marks=pytest.mark.postgres) if k == databases.POSTGRESQL else k
            for k in kinds
        ]
        metafunc.parametrize("database_kind", params, indirect=True)


@pytest.fixture
def database_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    postgres_or_skip()
    with databases.pg_database() as url:
        yield url


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, database_kind: str, tmp_path: Path
) -> Iterator[str]:
    """The test's own store, on each kind its module runs on (tests/support/databases.py).

    Empty for a test that migrates it itself; when the test also takes `engine`, a copy of
    the session's migrated template, so only the migration tests walk every revision.
    """
    migrated = "engine" in request.fixturenames
    if database_kind == databases.SQLITE:
        path = tmp_path / "newswatch.db"
        if migrated:
            databases.copy_sqlite_template(request.getfixturevalue("sqlite_template"), path)
        yield databases.sqlite_url(path)
        return
    postgres_or_skip()
    template = request.getfixturevalue("pg_template") if migrated else None
    with databases.pg_database(template) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test's store, already at the newest revision (see `database_url`)."""
    engine = store.make_engine(database_url)
    yield engine
    engine.dispose()
