"""`newswatch run` (one monitor cycle now) and `newswatch matches` (what was stored)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import Session

from newswatch import store
from newswatch.cli.common import ConfigOption, load_or_exit, open_database


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


def matches(
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 20,
) -> None:
    """List stored matches, newest first."""
    engine = open_database()
    with Session(engine) as session:
        for row in store.recent_matches(session, limit=limit):
            typer.echo(
                f"{row.matched_at:%Y-%m-%d %H:%M}  {row.rule_id:<20} {row.title}  {row.url or ''}"
            )
