"""The `newswatch` command's core: one module per group of subcommands, imported when used.

The two commands that drive Prefect, `run` and `up`, live in flows.cli (the core never
imports flows), which hands them to build_app(); the console script is flows.cli:main.
Each command is known by name and one line of help until it runs: `newswatch --help` then
imports typer and nothing else of weight (Apprise, SQLModel and Prefect cost seconds).
User mistakes end in a message and exit code 2, never a traceback.
"""

from __future__ import annotations

from newswatch.cli.common import ConfigOption, load_or_exit, open_database
from newswatch.cli.exit_codes import ExitCode
from newswatch.cli.lazy import Lazy, LazyGroup, build_app

__all__ = [
    "CORE_COMMANDS",
    "ConfigOption",
    "ExitCode",
    "Lazy",
    "LazyGroup",
    "build_app",
    "load_or_exit",
    "open_database",
]

CORE_COMMANDS: dict[str, Lazy] = {
    "init": Lazy(
        "newswatch.cli.init:init",
        "Write a commented starter config to edit; an existing file is never overwritten.",
    ),
    "matches": Lazy(
        "newswatch.cli.matches:matches",
        "List stored matches, newest first: by rule, time, words; table, JSON or CSV.",
    ),
    "backtest": Lazy(
        "newswatch.cli.backtest:backtest",
        "Run a rule (or --query) over stored articles and print what it matches.",
    ),
    "rules": Lazy("newswatch.cli.rules:app", "Check and try keyword rules."),
    "alerts": Lazy(
        "newswatch.cli.alerts:app",
        "Test channels; see, send and retry the alerts waiting in the outbox.",
    ),
    "feeds": Lazy("newswatch.cli.feeds:app", "See each feed's health; add feeds to the config."),
    "prune": Lazy(
        "newswatch.cli.prune:prune",
        "Remove old articles that matched nothing; matched ones are kept.",
    ),
    "stories": Lazy("newswatch.cli.stories:app", "Try the story grouping on a file of articles."),
}
"""The core's commands; flows.cli adds `run` and `up` and says the help order."""
