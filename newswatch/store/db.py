"""The database: engines with each backend's settings, Alembic migrations, and the one
session scope that owns the commit (store functions never commit)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlmodel import Session, create_engine, select

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine with the settings each backend needs (SQLite: WAL, a busy timeout, FKs)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # the busy timeout first: switching a new file to WAL waits for another process
            # that holds it (two runs starting at once) instead of failing at once
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # a host that drops packets must not hang a command: psycopg waits forever by default
    connect_args = {"connect_timeout": 10} if parsed.get_driver_name() == "psycopg" else {}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


class DatabaseUnavailable(Exception):
    """The database cannot be opened; the message is one line naming the URL without its
    password, for a user to act on (no traceback)."""


def redacted_url(url: str) -> str:
    """The URL as a user may see it: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unreadable database URL)"


def open_database(url: str) -> Engine:
    """An engine on a reachable database migrated to the current schema, or
    DatabaseUnavailable saying why in one line (unreachable, missing, no driver)."""
    shown = redacted_url(url)
    try:
        engine = make_engine(url)
        migrate(engine)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
        raise DatabaseUnavailable(
            f"cannot use the database {shown}: {_first_line(exc)} "
            "(PostgreSQL URLs look like postgresql+psycopg://user:password@host/dbname)"
        ) from None
    except OSError as exc:  # the SQLite file's folder cannot be made
        raise DatabaseUnavailable(
            f"cannot open the database {shown}: {exc.strerror or exc}: {exc.filename or ''}"
        ) from None
    except DBAPIError as exc:
        reason = _first_line(exc.orig if exc.orig is not None else exc)
        password = _password(url)
        if password:
            reason = reason.replace(password, "***")
        raise DatabaseUnavailable(f"cannot open the database {shown}: {reason}") from None
    return engine


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except ArgumentError:
        return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@contextmanager
def engine_at(url: str) -> Iterator[Engine]:
    """An engine for one piece of work (a flow step, a task), its connections closed after:
    a worker runs many flows, and pooled connections left open would pile up."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with migration_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to run migrations on, in one transaction.

    On SQLite it holds the write lock from its first read, so two processes starting on a
    new file (a manual run during a scheduled one) take turns and the second finds the
    schema made, instead of both creating the same tables. Foreign keys are off meanwhile:
    a migration that rebuilds a table (Alembic's batch mode drops the old one) would
    otherwise fail on the rows that point at it; they point at the same ids after.
    """
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # a pragma SQLite ignores inside a transaction: set before BEGIN
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                if sqlite:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
        finally:
            if sqlite:
                conn.rollback()  # ends a transaction a failed migration left open
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def described_by_models(name: str | None, type_: str, _parents: Any) -> bool:
    """Alembic's filter for comparing the database with the models: the search index
    (SQLite: FTS5's article_fts and its shadow tables; PostgreSQL: the expression index
    ix_article_search; both made by migration 0007) is not in the models."""
    if type_ == "table":
        return not (name or "").startswith("article_fts")
    return not (type_ == "index" and name == "ix_article_search")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back when it raises.

    This is the only place that commits, so what belongs together (an article, its matches
    and their outbox rows) is written together or not at all.
    """
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert(session: Session, table: Any) -> Any:
    """A dialect INSERT that supports ON CONFLICT DO NOTHING and RETURNING."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def count_rows(session: Session, model: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())
