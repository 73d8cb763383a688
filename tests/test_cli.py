"""The `newswatch` console script as composed in flows.cli: every command, in help order,
and no Prefect imported until a command really runs a flow."""

from __future__ import annotations

import subprocess
import sys

import click
import typer.main

from flows.cli import app


def test_the_console_script_has_every_command_in_help_order() -> None:
    group = typer.main.get_group(app)
    assert group.list_commands(click.Context(group)) == [
        "run",
        "matches",
        "backtest",
        "up",
        "rules",
        "alerts",
        "feeds",
    ]


def test_help_imports_no_prefect() -> None:
    code = (
        "import sys; from flows.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({'prefect', 'flows.monitor', 'flows.up'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
