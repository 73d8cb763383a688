"""`newswatch matches`: what was stored, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit, open_database
from newswatch.cli.exit_codes import ExitCode


def matches(
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 20,
    rule: Annotated[
        str | None, typer.Option(help="only this rule's (checked against the config)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """List stored matches, newest first.

    Example: newswatch matches -c newswatch.yaml --rule uk-china-visit --limit 5
    """
    from sqlmodel import Session

    from newswatch import store

    if rule is not None or config is not None:  # the matches need no config; a rule id does
        path, cfg = load_or_exit(config)
        if rule is not None and rule not in {r.id for r in cfg.rules}:
            known = ", ".join(r.id for r in cfg.rules) or "none"
            typer.echo(f"error: {path}: no rule {rule!r} (rules: {known})", err=True)
            raise typer.Exit(ExitCode.CONFIG_ERROR)
    with Session(open_database()) as session:
        rows = store.recent_matches(session, limit=limit, rule_id=rule)
    if not rows:
        typer.echo("no matches stored yet (newswatch run polls the feeds)")
    for row in rows:
        typer.echo(
            f"{row.matched_at:%Y-%m-%d %H:%M}  {row.rule_id:<20} {row.title}  {row.url or ''}"
        )
