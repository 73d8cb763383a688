"""The `newswatch` console script: the core's commands plus the two that drive Prefect.

newswatch/ never imports flows, so the whole app is composed here: `run` (one monitor cycle
through Prefect) and `up` (server, pool, deployments, worker) join the core's commands.
Each imports what it drives only when it runs, so `newswatch --help` stays fast.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated

import typer

from newswatch.cli import ConfigOption, build_app, load_or_exit
from newswatch.settings import get_settings


def run(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="match and print; store and send nothing")
    ] = False,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="poll only this feed (URL or name)")
    ] = None,
    due_only: Annotated[
        bool,
        typer.Option("--due-only", help="poll only feeds whose next poll time has come"),
    ] = False,
) -> None:
    """Run one monitor cycle now (through Prefect; ephemeral when no server is set).

    A manual run polls every feed (conditional GET keeps that cheap for the servers);
    scheduled runs poll only the due ones.
    """
    path, _ = load_or_exit(config)
    from flows.up import running_up_server

    if (server := running_up_server()) is not None:  # `newswatch up` runs: use its server
        os.environ["PREFECT_API_URL"] = server
        typer.echo(f"using the Prefect server of `newswatch up` at {server}")
    from flows.monitor import monitor  # imports Prefect: only when a flow really runs

    report = monitor(config_path=str(path), feeds=feed, dry_run=dry_run, due_only=due_only)
    if dry_run:
        for feed_report in report.feeds:
            for m in feed_report.matched:
                rules = ", ".join(f"{h.rule_id} ({', '.join(h.matched_terms)})" for h in m.hits)
                typer.echo(f"[dry run] {m.article.source}: {m.article.title}  -> {rules}")
    typer.echo("")
    typer.echo(
        "newswatch cycle summary" + (" (dry run: nothing stored or sent)" if dry_run else "")
    )
    typer.echo(f"  feeds polled:  {len(report.feeds)} ({len(report.failed_feeds)} failed)")
    typer.echo(f"  new articles:  {report.new_articles}")
    typer.echo(f"  matches:       {report.matches}")
    typer.echo(f"  alerts sent:   {report.delivery.sent} (failed: {report.delivery.failed})")
    for failed in report.failed_feeds:
        typer.echo(f"  feed problem:  {failed.name}: {failed.health}")
    for error in report.delivery.errors:
        typer.echo(f"  alert problem: {error}")


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
    # httpx, YAML and SQLAlchemy's URL parsing: only when the stack really starts
    from flows.processes import stop_on_signals
    from flows.up import ServiceError, Stack, UpOptions, find_project_dir, newswatch_environment

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


app = build_app(run=run, up=up)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
