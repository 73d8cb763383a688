"""`newswatch stories test`: which articles of a file the grouping calls one story."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit
from newswatch.cli.exit_codes import ExitCode

app = typer.Typer(
    help="Try the story grouping on a file of articles.",
    epilog="Example: newswatch stories test --articles articles.jsonl --format jsonl",
    no_args_is_help=True,
)


@app.callback()
def stories() -> None:
    """Try the story grouping on a file of articles."""


@app.command("test")
def stories_test(
    articles: Annotated[
        Path,
        typer.Option(
            "--articles",
            help="JSON lines: id, title, summary, body, source, url, published (ISO 8601)",
            show_default=False,
        ),
    ],
    fmt: Annotated[str, typer.Option("--format", help="jsonl (the only format)")] = "jsonl",
    threshold: Annotated[
        float | None,
        typer.Option(help="similarity needed to join a story (default: NEWSWATCH_STORY_THRESHOLD)"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print {"article": ID, "story": KEY} per article, in file order; copies share a key.

    Example: newswatch stories test --articles articles.jsonl --format jsonl
    """
    from newswatch.settings import get_settings
    from newswatch.stories import group
    from newswatch.story_file import StoryFileError, read_articles

    if fmt != "jsonl":
        typer.echo(f"error: --format {fmt!r}: only 'jsonl' is supported", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR)
    if config is not None:  # checked like every command's; the grouping needs none
        load_or_exit(config)
    settings = get_settings()
    if threshold is not None and not 0 < threshold <= 1:
        typer.echo(f"error: --threshold {threshold}: must be above 0 and at most 1", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR)
    try:
        read = read_articles(articles)
    except StoryFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    keys = group(
        read,
        threshold=settings.story_threshold if threshold is None else threshold,
        window=timedelta(hours=settings.story_window_hours),
    )
    for article in read:
        typer.echo(json.dumps({"article": article.id, "story": keys[article.id]}))
