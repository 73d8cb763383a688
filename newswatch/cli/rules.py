"""`newswatch rules check` and `newswatch rules test`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit

app = typer.Typer(help="Check and try keyword rules.", no_args_is_help=True)


@app.command("check")
def rules_check(config: ConfigOption = None) -> None:
    """Validate the config: every problem with its file and line, all at once."""
    path, cfg = load_or_exit(config)
    typer.echo(
        f"{path}: OK ({len(cfg.feeds)} feeds, {len(cfg.rules)} rules, {len(cfg.channels)} channels)"
    )


@app.command("test")
def rules_test(
    rules: Annotated[Path | None, typer.Option("--rules", help="YAML with lists and rules")] = None,
    articles: Annotated[
        Path | None, typer.Option("--articles", help="JSON lines: id, title, summary, body…")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl for machine output")] = None,
    query: Annotated[str | None, typer.Option("--query", help="one query to try")] = None,
    text: Annotated[str | None, typer.Option("--text", help="the text to try it on")] = None,
) -> None:
    """Try rules on articles (or one query on one text) and show why they matched."""
    from newswatch import rule_testing

    if query is not None:
        if text is None:
            typer.echo("error: --query needs --text", err=True)
            raise typer.Exit(2)
        raise typer.Exit(
            rule_testing.run_query_test(query=query, text=text, out=sys.stdout, err=sys.stderr)
        )
    if rules is None or articles is None:
        typer.echo("error: give --rules and --articles, or --query and --text", err=True)
        raise typer.Exit(2)
    if fmt not in (None, "jsonl"):
        typer.echo(f"error: unknown --format {fmt!r} (use jsonl, or leave it out)", err=True)
        raise typer.Exit(2)
    raise typer.Exit(
        rule_testing.run_rules_test(
            rules_path=rules, articles_path=articles, fmt=fmt, out=sys.stdout, err=sys.stderr
        )
    )
