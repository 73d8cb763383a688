"""`newswatch feeds`: each feed's health, and adding feeds to the config (OPML or one URL)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit, open_database
from newswatch.cli.exit_codes import ExitCode

app = typer.Typer(
    help="See each feed's health; add feeds to the config.",
    epilog="Example: newswatch feeds status -c newswatch.yaml",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(ExitCode.CONFIG_ERROR)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


@app.command("status")
def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array, for scripts")] = False,
) -> None:
    """Each configured feed's health: what its last poll said and when it is polled next.

    Example: newswatch feeds status -c newswatch.yaml --json
    """
    from newswatch import feeds_admin

    _, cfg = load_or_exit(config)
    statuses = feeds_admin.feed_statuses(open_database(), cfg)
    if as_json:
        typer.echo(json.dumps([s.as_json() for s in statuses], indent=2, ensure_ascii=False))
        return
    if not statuses:
        typer.echo("no feeds in the config (add some: newswatch feeds add URL)")
        return
    header = ("FEED", "STATUS", "FAILS", "LAST SUCCESS (UTC)", "NEXT POLL (UTC)", "HEALTH")
    rows = []
    for s in statuses:
        health = s.health
        if s.moved:
            health += f" [moved to {s.polled_url}: update the config]"
        rows.append(
            (
                s.name,
                str(s.last_status) if s.last_status is not None else "-",
                str(s.consecutive_failures),
                _when(s.last_success_at),
                _when(s.next_poll_at),
                health,
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]))


@app.command("import")
def import_opml(
    file: Annotated[Path, typer.Argument(help="a feed reader's OPML export")],
    config: ConfigOption = None,
) -> None:
    """Add an OPML file's feeds to the config, skipping URLs already there.

    Example: newswatch feeds import subscriptions.opml -c newswatch.yaml
    """
    from newswatch import feeds_admin
    from newswatch.feeds_admin import FeedsAdminError

    path, cfg = load_or_exit(config)
    try:
        result = feeds_admin.import_opml(path, cfg, file, environ=os.environ)
    except FeedsAdminError as exc:
        raise _fail(str(exc)) from None
    for name, url in result.added:
        typer.echo(f"  added    {url}" + (f"  ({name})" if name else ""))
    for url in result.skipped:
        typer.echo(f"  skipped  {url}  (already in the config)")
    typer.echo(
        f"{path}: added {len(result.added)} feed{'s' if len(result.added) != 1 else ''}, "
        f"skipped {len(result.skipped)} already there"
    )


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="a feed URL, or a web page that links its feed")],
    name: Annotated[
        str | None, typer.Option("--name", help="the outlet's name (default: the feed's title)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Probe URL and add its feed to the config; for a web page, find the feed it links.

    Example: newswatch feeds add https://example.org/ --name "Example News"
    """
    from newswatch import feeds_admin
    from newswatch.feeds_admin import FeedsAdminError
    from newswatch.plan import poll_options

    path, cfg = load_or_exit(config)
    try:
        result = feeds_admin.add_feed(
            path,
            cfg,
            url,
            name=name,
            settings=poll_options(cfg).fetch,
            environ=os.environ,
        )
    except FeedsAdminError as exc:
        raise _fail(str(exc)) from None
    if result.found_on is not None:
        typer.echo(f"{result.found_on} is a web page; it links to the feed {result.url}")
    if result.note:
        typer.echo(result.note)
    if not result.added:
        typer.echo(f"{path}: already has {result.url} ({result.name or 'no name'}); not changed")
        return
    typer.echo(f"{path}: added {result.name!r} ({result.url}), {result.entries} entries now")
