"""The `newswatch` command's core: one module per group of subcommands.

The two commands that drive Prefect, `run` and `up`, live in flows.cli (the core never
imports flows), which hands them to build_app(); the console script is flows.cli:main.
User mistakes end in a message and exit code 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from newswatch.cli import alerts, backtest, feeds, matches, rules
from newswatch.cli.common import ConfigOption, load_or_exit, open_database

__all__ = ["Command", "ConfigOption", "build_app", "load_or_exit", "open_database"]

Command = Callable[..., None]
"""A typer command: its parameters' annotations are its options."""


def build_app(*, run: Command, up: Command) -> typer.Typer:
    """The whole `newswatch` app, commands in their help order, with flows' `run` and `up`."""
    app = typer.Typer(
        help="Watch news feeds for the stories you care about.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.command()(run)
    app.command()(matches.matches)
    app.command()(backtest.backtest)
    app.command()(up)
    app.add_typer(rules.app, name="rules")
    app.add_typer(alerts.app, name="alerts")
    app.add_typer(feeds.app, name="feeds")
    return app
