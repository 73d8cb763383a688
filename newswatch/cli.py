"""The `newswatch` command. User mistakes end in a message and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from newswatch import store
from newswatch.config import Config, ConfigError, load_config
from newswatch.settings import get_settings

app = typer.Typer(
    help="Watch news feeds for the stories you care about.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
rules_app = typer.Typer(help="Check and try keyword rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="the YAML config (default: $NEWSWATCH_CONFIG)"),
]


def _config_path(config: Path | None) -> Path:
    return config if config is not None else get_settings().config


def _load(config: Path | None) -> tuple[Path, Config]:
    path = _config_path(config)
    try:
        return path, load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None


@app.command()
def run(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="match and print; store and send nothing")
    ] = False,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="poll only this feed (URL or name)")
    ] = None,
    due_only: Annotated[
        bool,
        typer.Option("--due-only", help="poll only feeds whose next poll time has come"),
    ] = False,
) -> None:
    """Run one monitor cycle now (through Prefect; ephemeral when no server is set).

    A manual run polls every feed (conditional GET keeps that cheap for the servers);
    scheduled runs poll only the due ones.
    """
    path, _ = _load(config)
    from flows.monitor import monitor  # imports Prefect: only when a flow really runs

    report = monitor(config_path=str(path), feeds=feed, dry_run=dry_run, due_only=due_only)
    if dry_run:
        for feed_report in report.feeds:
            for m in feed_report.matched:
                rules = ", ".join(f"{h.rule_id} ({', '.join(h.matched_terms)})" for h in m.hits)
                typer.echo(f"[dry run] {m.article.source}: {m.article.title}  -> {rules}")
    typer.echo("")
    typer.echo(
        "newswatch cycle summary" + (" (dry run: nothing stored or sent)" if dry_run else "")
    )
    typer.echo(f"  feeds polled:  {len(report.feeds)} ({len(report.failed_feeds)} failed)")
    typer.echo(f"  new articles:  {report.new_articles}")
    typer.echo(f"  matches:       {report.matches}")
    typer.echo(f"  alerts sent:   {report.delivery.sent} (failed: {report.delivery.failed})")
    for failed in report.failed_feeds:
        typer.echo(f"  feed problem:  {failed.name}: {failed.health}")
    for error in report.delivery.errors:
        typer.echo(f"  alert problem: {error}")


@rules_app.command("check")
def rules_check(config: ConfigOption = None) -> None:
    """Validate the config: every problem with its file and line, all at once."""
    path, cfg = _load(config)
    typer.echo(
        f"{path}: OK ({len(cfg.feeds)} feeds, {len(cfg.rules)} rules, {len(cfg.channels)} channels)"
    )


@rules_app.command("test")
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


@app.command()
def matches(
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 20,
) -> None:
    """List stored matches, newest first."""
    engine = store.make_engine(get_settings().resolved_database_url())
    store.migrate(engine)
    with Session(engine) as session:
        for row in store.recent_matches(session, limit=limit):
            typer.echo(
                f"{row.matched_at:%Y-%m-%d %H:%M}  {row.rule_id:<20} {row.title}  {row.url or ''}"
            )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
