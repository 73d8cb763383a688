"""`newswatch rules check` and `newswatch rules test`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit
from newswatch.cli.exit_codes import ExitCode

app = typer.Typer(
    help="Check and try keyword rules.",
    epilog="Example: newswatch rules test -c newswatch.yaml uk-china-visit --text 'UK in China'",
    no_args_is_help=True,
)


def _refuse(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(ExitCode.CONFIG_ERROR)


@app.command("check")
def rules_check(config: ConfigOption = None) -> None:
    """Validate the config: every problem with its file and line, all at once.

    Example: newswatch rules check -c newswatch.yaml
    """
    path, cfg = load_or_exit(config)
    typer.echo(
        f"{path}: OK ({len(cfg.feeds)} feeds, {len(cfg.rules)} rules, {len(cfg.channels)} channels)"
    )


@app.command("test")
def rules_test(
    rule_id: Annotated[
        str | None,
        typer.Argument(help="with --config: only this rule of the config", show_default=False),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="use this config's rules and @lists (with --query: its @lists)",
            show_default=False,
        ),
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="YAML with lists and rules")] = None,
    articles: Annotated[
        Path | None, typer.Option("--articles", help="JSON lines: id, title, summary, body…")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl for machine output")] = None,
    query: Annotated[str | None, typer.Option("--query", help="one query to try")] = None,
    text: Annotated[str | None, typer.Option("--text", help="the text to try it on")] = None,
) -> None:
    """Try rules on articles (or one query on one text) and show why they matched.

    Exit 0 when something matched (or, with --articles, when the file was read), 1 when
    --text matched nothing, 2 for a mistake in a rule or an option.

    Examples:
    newswatch rules test --query 'UK AND visit' --text 'UK minister visits Japan';
    newswatch rules test -c newswatch.yaml uk-china-visit --text 'Britain plans a visit to China';
    newswatch rules test --rules rules.yaml --articles articles.jsonl --format jsonl
    """
    from newswatch import rule_testing

    if fmt not in (None, "jsonl"):
        raise _refuse(f"unknown --format {fmt!r} (use jsonl, or leave it out)")
    if rules is not None and config is not None:
        raise _refuse("give --rules or --config, not both")
    if rule_id is not None and config is None:
        raise _refuse(f"a rule id ({rule_id}) needs --config, the file it is in")
    if query is not None:
        if text is None:
            raise _refuse("--query needs --text")
        if rule_id is not None:
            raise _refuse("give a rule id or --query, not both")
        lists = load_or_exit(config)[1].lists if config is not None else None
        raise typer.Exit(
            rule_testing.run_query_test(
                query=query, text=text, out=sys.stdout, err=sys.stderr, lists=lists
            )
        )
    if (articles is None) == (text is None):
        raise _refuse("give --articles or --text (with --config or --rules), or --query and --text")
    if config is not None:
        path, cfg = load_or_exit(config)
        raise typer.Exit(
            rule_testing.run_config_test(
                config=cfg,
                config_name=str(path),
                rule_id=rule_id,
                articles_path=articles,
                text=text,
                fmt=fmt,
                out=sys.stdout,
                err=sys.stderr,
            )
        )
    if rules is None:
        raise _refuse("give --config or --rules (the rules to try), or --query")
    raise typer.Exit(
        rule_testing.run_rules_test(
            rules_path=rules,
            articles_path=articles,
            text=text,
            fmt=fmt,
            out=sys.stdout,
            err=sys.stderr,
        )
    )
