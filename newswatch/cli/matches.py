"""`newswatch matches`: what was stored, newest first, as a table, JSON or CSV."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit, open_database
from newswatch.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime, tzinfo

    from newswatch.models import MatchRow


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FIELDS = ("matched_at", "rule", "source", "title", "url", "published_at", "terms")


def matches(
    rule: Annotated[
        str | None, typer.Option(help="only this rule's (checked against the config)")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="only those matched since: 7d, 12h, 30m, 2w or a date")
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(help="only articles holding these words, in this order (any case)"),
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="how to print them")] = Format.table,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            help="time zone of the times shown, e.g. Europe/London (default: "
            "this machine's; JSON and CSV give UTC offsets too)",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 20,
    config: ConfigOption = None,
) -> None:
    """List stored matches, newest first: by rule, time, words; table, JSON or CSV.

    Example: newswatch matches --rule uk-china-visit --since 7d --search "Wang Yi" --format json
    """
    from sqlmodel import Session

    from newswatch import store, timespec
    from newswatch.models import utcnow

    zone = _zone_or_exit(tz)
    if rule is not None or config is not None:  # the matches need no config; a rule id does
        path, cfg = load_or_exit(config)
        if rule is not None and rule not in {r.id for r in cfg.rules}:
            known = ", ".join(r.id for r in cfg.rules) or "none"
            typer.echo(f"error: {path}: no rule {rule!r} (rules: {known})", err=True)
            raise typer.Exit(ExitCode.CONFIG_ERROR)
    try:
        start = timespec.parse_when(since, now=utcnow()) if since is not None else None
        with Session(open_database()) as session:
            rows = store.recent_matches(
                session, limit=limit, rule_id=rule, since=start, search=search
            )
    except (timespec.TimeSpecError, store.SearchError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    if output is Format.json:
        _print_json(rows, zone)
    elif output is Format.csv:
        _print_csv(rows, zone)
    elif not rows:
        filtered = rule is not None or since is not None or search is not None
        typer.echo(
            "no matches for these filters"
            if filtered
            else "no matches stored yet (newswatch run polls the feeds)"
        )
    else:
        for row in rows:
            typer.echo(
                f"{_shown(row.matched_at, zone, sep=' ', minutes=True)}  {row.rule_id:<20} "
                f"{row.source:<18} {row.title}  {row.url or ''}"
            )


def _zone_or_exit(name: str | None) -> tzinfo | None:
    """The zone asked for; None is this machine's (its offset follows summer time)."""
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        typer.echo(f"error: no time zone {name!r} (use a name like Europe/London or UTC)", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None


def _shown(
    when: datetime | None, zone: tzinfo | None, *, sep: str = "T", minutes: bool = False
) -> str:
    if when is None:
        return ""
    local = when.astimezone(zone)
    return local.isoformat(sep=sep, timespec="minutes" if minutes else "seconds")


def _record(row: MatchRow, zone: tzinfo | None) -> dict[str, object]:
    return {
        "matched_at": _shown(row.matched_at, zone),
        "rule": row.rule_id,
        "source": row.source,
        "title": row.title,
        "url": row.url,
        "published_at": _shown(row.published_at, zone),
        "terms": row.terms,
    }


def _print_json(rows: Sequence[MatchRow], zone: tzinfo | None) -> None:
    import json

    typer.echo(json.dumps([_record(r, zone) for r in rows], ensure_ascii=False, indent=2))


def _print_csv(rows: Sequence[MatchRow], zone: tzinfo | None) -> None:
    import csv
    import sys

    writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = _record(row, zone)
        writer.writerow({**record, "terms": " ".join(row.terms)})
