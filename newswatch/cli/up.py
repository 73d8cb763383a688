"""`newswatch up`: everything one machine needs, in the foreground, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit
from newswatch.service import ServiceError, Stack, UpOptions, find_project_dir, stop_on_signals
from newswatch.settings import get_settings


def newswatch_environment(config: Path) -> dict[str, str]:
    """The newswatch settings flow runs need, made absolute (they run in the checkout)."""
    settings = get_settings()
    env = {"NEWSWATCH_CONFIG": str(config.resolve())}
    if settings.database_url:
        env["NEWSWATCH_DATABASE_URL"] = settings.database_url
    else:
        env["NEWSWATCH_DATA_DIR"] = str(settings.data_dir.resolve())
    return env


def up(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="the address the Prefect server binds")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the Prefect server's port")] = 4200,
    prefect_database_url: Annotated[
        str | None,
        typer.Option(
            "--prefect-database-url",
            help="the Prefect server's database, e.g. postgresql+asyncpg://user:pw@host/prefect "
            "(default: $NEWSWATCH_PREFECT_DATABASE_URL, else SQLite in PREFECT_HOME)",
            show_default=False,
        ),
    ] = None,
    start_timeout: Annotated[
        float, typer.Option(help="seconds to wait for the Prefect server to answer")
    ] = 180.0,
    stop_timeout: Annotated[
        float, typer.Option(help="seconds each process gets to stop before it is killed")
    ] = 20.0,
) -> None:
    """Start (or reuse) a Prefect server, create the pool, deploy, run a worker until stopped.

    Ctrl-C or SIGTERM stops the worker, then the server (unless it was already running).
    """
    path, _ = load_or_exit(config)
    try:
        options = UpOptions(
            host=host,
            port=port,
            project_dir=find_project_dir(Path.cwd()),
            config=path.resolve(),
            newswatch_env=newswatch_environment(path),
            prefect_database_url=prefect_database_url or get_settings().prefect_database_url,
            start_timeout=start_timeout,
            stop_timeout=stop_timeout,
        )
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    stop = threading.Event()
    stack = Stack(options, typer.echo, stop, warn=lambda line: typer.echo(line, err=True))
    with stop_on_signals(stop):
        code = stack.run()
    raise typer.Exit(code)
