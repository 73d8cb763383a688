"""What every command shares: the --config option, loading it without a traceback, the DB."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from newswatch import store
from newswatch.config import Config, ConfigError, load_config
from newswatch.settings import get_settings

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="the YAML config (default: $NEWSWATCH_CONFIG)"),
]


def config_path(config: Path | None) -> Path:
    return config if config is not None else get_settings().config


def load_or_exit(config: Path | None) -> tuple[Path, Config]:
    """The config, or every problem on stderr and exit code 2."""
    path = config_path(config)
    try:
        return path, load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None


def open_database() -> Engine:
    """The configured database, migrated to the current schema."""
    engine = store.make_engine(get_settings().resolved_database_url())
    store.migrate(engine)
    return engine
