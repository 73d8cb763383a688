"""`newswatch init`: a commented starter config, so a first run needs no copying or guessing."""

from __future__ import annotations

from importlib.resources import files

import typer

from newswatch.cli.common import ConfigOption, config_path
from newswatch.cli.exit_codes import ExitCode


def starter_config() -> str:
    """The starter config's text (newswatch/cli/starter_config.yaml, shipped in the wheel)."""
    return files("newswatch.cli").joinpath("starter_config.yaml").read_text(encoding="utf-8")


def init(config: ConfigOption = None) -> None:
    """Write a commented starter config to edit; an existing file is never overwritten.

    Example: newswatch init -c newswatch.yaml && newswatch rules check
    """
    path = config_path(config)
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write(starter_config())
    except FileExistsError:
        typer.echo(
            f"error: {path} already exists; not overwritten "
            "(edit it, or give another file with -c)",
            err=True,
        )
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    except OSError as exc:
        typer.echo(f"error: cannot write {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    typer.echo(f"wrote {path}: edit its feeds, rules and channels, then run")
    typer.echo(f"  newswatch rules check -c {path}")
    typer.echo(f"  newswatch run --dry-run -c {path}")
