"""What every command shares: the --config option, loading it without a traceback, the DB.

The config (pydantic, YAML, the rule engine) and the database (SQLAlchemy, Alembic) are
imported inside the functions: a command pays for them when it uses them, `--help` never.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newswatch.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from newswatch.config import Config

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="the YAML config (default: $NEWSWATCH_CONFIG, else newswatch.yaml)",
        show_default=False,
    ),
]


def config_path(config: Path | None) -> Path:
    if config is not None:
        return config
    from newswatch.settings import get_settings

    return get_settings().config


def load_or_exit(config: Path | None, *, sends: bool = True) -> tuple[Path, Config]:
    """The config, or every problem on stderr and exit code 2; a command that ``sends``
    nothing does not have Apprise check the channel URLs (a second of imports)."""
    from newswatch.config import ConfigError, load_config

    path = config_path(config)
    try:
        return path, load_config(path, check_channels=sends)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None


def database_url() -> str:
    from newswatch.settings import get_settings

    return get_settings().resolved_database_url()


def open_database() -> Engine:
    """The configured database, migrated to the current schema; one line and exit 2 when
    it cannot be opened (unreachable, missing, no driver)."""
    from newswatch import store

    try:
        return store.open_database(database_url())
    except store.DatabaseUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
