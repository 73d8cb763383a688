"""`newswatch matches`: what was stored, newest first."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import Session

from newswatch import store
from newswatch.cli.common import open_database


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
