"""The `newswatch` command: one module per group of subcommands.

User mistakes end in a message and exit code 2, never a traceback.
"""

from __future__ import annotations

import typer

from newswatch.cli import alerts, backtest, feeds, rules, run, up

app = typer.Typer(
    help="Watch news feeds for the stories you care about.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(run.run)
app.command()(run.matches)
app.command()(backtest.backtest)
app.command()(up.up)
app.add_typer(rules.app, name="rules")
app.add_typer(alerts.app, name="alerts")
app.add_typer(feeds.app, name="feeds")


def main() -> None:
    app()
