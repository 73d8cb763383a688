"""`newswatch rules check` and `newswatch rules test`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit
from newswatch.cli.exit_codes import ExitCode

if TYPE_CHECKING:  # imported when a command runs: --help stays instant
    from sqlalchemy import Engine

    from newswatch.config import Config

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

    Also warns (exit 0 still) about a rule whose terms are all stop words, or that matches
    more than 5% of the newest stored articles.

    Example: newswatch rules check -c newswatch.yaml
    """
    from newswatch import rule_checks
    from newswatch.matching import index_sample
    from rules import compile_rules

    path, cfg = load_or_exit(config)
    engine = _stored_articles()
    articles = index_sample(engine, limit=rule_checks.SAMPLE_SIZE) if engine is not None else []
    index = compile_rules(  # load_config checked every query
        cfg.rule_specs(), cfg.lists, default_language=cfg.monitor.default_language
    )
    for warning in rule_checks.rule_warnings(cfg, index, articles):
        typer.echo(f"warning: {path}: rule {warning.rule_id!r}: {warning.message}", err=True)
    typer.echo(
        f"{path}: OK ({len(cfg.feeds)} feeds, {len(cfg.rules)} rules, {len(cfg.channels)} channels)"
    )


def _stored_articles() -> Engine | None:
    """The configured database when it exists (a check creates none), else None."""
    from sqlalchemy.engine import make_url

    from newswatch import store
    from newswatch.cli.common import database_url

    url = database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        return None
    try:
        return store.open_database(url)
    except store.DatabaseUnavailable:
        return None


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

    With --config and a rule id (or --query) but no --text or --articles, the rule is tried on
    every stored article: the hit count and the five newest hits, terms highlighted.

    Exit 0 when something matched (or, with --articles, when the file was read), 1 when
    --text (or the stored articles) matched nothing, 2 for a mistake in a rule or an option.

    Examples:
    newswatch rules test --query 'UK AND visit' --text 'UK minister visits Japan';
    newswatch rules test -c newswatch.yaml uk-china-visit --text 'Britain plans a visit to China';
    newswatch rules test -c newswatch.yaml uk-china-visit   (over the stored articles);
    newswatch rules test --rules rules.yaml --articles articles.jsonl --format jsonl
    """
    from newswatch import rule_testing

    if fmt not in (None, "jsonl"):
        raise _refuse(f"unknown --format {fmt!r} (use jsonl, or leave it out)")
    if rules is not None and config is not None:
        raise _refuse("give --rules or --config, not both")
    if rule_id is not None and config is None:
        raise _refuse(f"a rule id ({rule_id}) needs --config, the file it is in")
    stored = config is not None and text is None and articles is None
    if stored and (query is None) != (rule_id is None):
        path, cfg = load_or_exit(config, sends=False)
        raise typer.Exit(_test_stored(cfg, str(path), rule_id, query))
    if query is not None:
        if rule_id is not None:
            raise _refuse("give a rule id or --query, not both")
        if text is None:
            raise _refuse("--query needs --text (or --config, to try it on the stored articles)")
        lists = load_or_exit(config, sends=False)[1].lists if config is not None else None
        raise typer.Exit(
            rule_testing.run_query_test(
                query=query, text=text, out=sys.stdout, err=sys.stderr, lists=lists
            )
        )
    if (articles is None) == (text is None):
        raise _refuse("give --articles or --text (with --config or --rules), or --query and --text")
    if config is not None:
        path, cfg = load_or_exit(config, sends=False)
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


def _test_stored(config: Config, config_name: str, rule_id: str | None, query: str | None) -> int:
    """One rule of the config, or one query with its lists, over the stored articles."""
    from newswatch import rule_testing
    from newswatch.cli.common import open_database
    from rules import RuleErrors, RuleSpec, compile_rules

    if rule_id is not None:
        specs = [s for s in config.rule_specs() if s.id == rule_id]
        if not specs:
            known = ", ".join(r.id for r in config.rules) or "none"
            raise _refuse(f"{config_name}: no rule {rule_id!r} (rules: {known})")
        label = rule_id
    else:
        specs, label = [RuleSpec("query", query or "")], "query"
    try:
        index = compile_rules(specs, config.lists, default_language=config.monitor.default_language)
    except RuleErrors as exc:
        for error in exc.errors:
            typer.echo(error.render(), err=True)
        return int(ExitCode.CONFIG_ERROR)
    terms = rule_testing.term_index(
        specs[0].query, config.lists, default_language=config.monitor.default_language
    )
    return rule_testing.run_stored_test(
        engine=open_database(), index=index, label=label, out=sys.stdout, terms=terms
    )
