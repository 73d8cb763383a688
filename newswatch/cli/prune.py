"""`newswatch prune`: remove old articles that matched nothing, keep every matched one."""

from __future__ import annotations

from typing import Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit, open_database
from newswatch.cli.exit_codes import ExitCode


def prune(
    older_than: Annotated[
        str, typer.Option(help="remove what was stored longer ago than this: 90d, 12h, 2w")
    ] = "90d",
    config: ConfigOption = None,
) -> None:
    """Remove old articles that matched nothing; matched ones are kept.

    Example: newswatch prune --older-than 90d
    """
    from newswatch import timespec
    from newswatch.models import utcnow
    from newswatch.prune import describe, prune_articles

    try:
        age = timespec.parse_age(older_than)
    except timespec.TimeSpecError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    if config is not None:  # the store needs no config; one named must be readable
        load_or_exit(config)
    report = prune_articles(open_database(), older_than=age, now=utcnow())
    typer.echo(describe(report))
