"""`newswatch backtest`: try a rule on what was already stored; sends nothing unless --notify."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit, open_database
from newswatch.cli.exit_codes import ExitCode


def backtest(
    rule: Annotated[str | None, typer.Argument(help="a rule id from the config")] = None,
    since: Annotated[str, typer.Option(help="7d, 12h, 30m, 2w or an ISO date")] = "7d",
    until: Annotated[str | None, typer.Option(help="end (default: now)")] = None,
    query: Annotated[str | None, typer.Option(help="an ad-hoc query instead of a rule")] = None,
    notify: Annotated[
        bool, typer.Option("--notify", help="store the matches and send their alerts")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Run a rule (or --query) over stored articles and print what it matches.

    Example: newswatch backtest uk-china-visit --since 7d -c newswatch.yaml
    """
    from newswatch.backtest import BacktestError, describe, run_backtest, window
    from newswatch.models import utcnow
    from newswatch.notify import deliver

    _, cfg = load_or_exit(config)
    now = utcnow()
    try:
        start, end = window(since, until, now=now)
        report = run_backtest(
            open_database(),
            cfg,
            since=start,
            until=end,
            rule_id=rule,
            query=query,
            notify=notify,
            now=now,
        )
    except BacktestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    typer.echo(describe(report))
    if notify and report.alerts_queued:
        sent = deliver(open_database(), cfg, environ=os.environ, now=utcnow())
        typer.echo(f"alerts sent: {sent.sent} (failed: {sent.failed})")
