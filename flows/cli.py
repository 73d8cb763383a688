"""The `newswatch` console script: the core's commands plus the two that drive Prefect.

newswatch/ never imports flows, so the whole app is composed here: `run` (one monitor cycle
through Prefect) and `up` (server, pool, deployments, worker) join the core's commands.
Every command imports what it drives only when it runs (Prefect alone costs seconds), so
`newswatch --help` imports typer and little else; tests/test_cli.py checks it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newswatch.cli import (
    CORE_COMMANDS,
    ConfigOption,
    Lazy,
    build_app,
    exit_codes,
    load_or_exit,
    open_database,
)

if TYPE_CHECKING:
    from newswatch.models import CycleReport
    from newswatch.run_summary import RunSummary


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
    as_json: Annotated[
        bool, typer.Option("--json", help="print the run summary as one JSON object")
    ] = False,
) -> None:
    """Run one monitor cycle now (through Prefect; a temporary server when none is running).

    A manual run polls every feed (conditional GET keeps that cheap for the servers);
    scheduled runs poll only the due ones. Progress goes to stderr: a bar on a terminal,
    plain lines when piped.

    Example: newswatch run --dry-run -c newswatch.yaml
    """
    path, cfg = load_or_exit(config)
    from flows.up_profile import running_up_server
    from newswatch import plan, run_summary
    from newswatch.cli.progress import RunProgress
    from newswatch.models import CycleReport, utcnow

    engine = open_database()  # an unreachable database is one line and exit 2, before Prefect
    urls = [f.url for f in plan.selected_feeds(cfg, feed)]
    server = running_up_server()
    gone: AbstractContextManager[object] = nullcontext()
    if server is not None and server.answers:  # `newswatch up` runs: use its server
        os.environ["PREFECT_API_URL"] = server.url
        typer.echo(f"using the Prefect server of `newswatch up` at {server.url}", err=True)
    elif server is not None:
        gone = _without_gone_server(server.url)
    from flows.monitor import monitor  # imports Prefect: only when a flow really runs

    # a second back: the database keeps the cycle's own clock, which may round down
    started = utcnow() - timedelta(seconds=1)
    watch = RunProgress(engine, since=started, config_urls=urls, stream=sys.stderr)
    # with --json, stdout carries the JSON alone: what the run prints (console alerts) goes
    # to stderr with the progress
    quiet = redirect_stdout(sys.stderr) if as_json else nullcontext()
    with gone:
        _explain_server()
        with quiet, watch if not dry_run else nullcontext():
            # the state, not the result: a run whose alerts all failed ends Failed and still
            # carries its report (counts to print, exit code 4)
            state = monitor(
                config_path=str(path),
                feeds=feed,
                dry_run=dry_run,
                due_only=due_only,
                return_state=True,
            )
            report = state.result(raise_on_failure=False)
    if not isinstance(report, CycleReport):  # the flow itself failed: its error, as raised
        raise report if isinstance(report, BaseException) else RuntimeError(str(report))
    waiting = 0 if dry_run else exit_codes.alerts_waiting_for_retry(engine)
    engine.dispose()
    summary = run_summary.from_cycle(report)
    if as_json:
        typer.echo(json.dumps(run_summary.summary_json(summary), ensure_ascii=False))
    else:
        _print_summary(report, summary)
        if waiting:
            typer.echo(f"  alerts waiting: {waiting} failed before; the next run retries them")
    raise typer.Exit(exit_codes.run_exit_code(report, alerts_waiting=waiting))


def _print_summary(report: CycleReport, summary: RunSummary) -> None:
    """The cycle as counted for its artifact (run_summary), so both always agree."""
    if summary.dry_run:
        for feed_report in report.feeds:
            for m in feed_report.matched:
                rules = ", ".join(f"{h.rule_id} ({', '.join(h.matched_terms)})" for h in m.hits)
                typer.echo(f"[dry run] {m.article.source}: {m.article.title}  -> {rules}")
    typer.echo("")
    typer.echo(
        "newswatch cycle summary"
        + (" (dry run: nothing stored or sent)" if summary.dry_run else "")
    )
    typer.echo(f"  feeds polled:  {len(summary.feeds)} ({len(summary.failed_feeds)} failed)")
    typer.echo(f"  new articles:  {summary.new_articles}")
    typer.echo(f"  matches:       {len(summary.matches)}")
    typer.echo(
        f"  alerts sent:   {summary.alerts_sent} (failed: {summary.alerts_failed}, "
        f"gave up: {summary.alerts_dead}, pending: {summary.alerts_pending})"
    )
    for failed in summary.failed_feeds:
        typer.echo(f"  feed problem:  {failed.name}: {failed.health}")
    for feed in summary.feeds:
        if feed.pages_failed:
            typer.echo(
                f"  page problem:  {feed.name}: {feed.pages_failed} article page(s) not read, "
                f"matched on the feed's text alone (first: {feed.page_problem})"
            )
    for error in report.delivery.errors:
        typer.echo(f"  alert problem: {error}")


def _without_gone_server(url: str) -> AbstractContextManager[object]:
    """A run where the `newswatch` profile names a server that is gone (its `up` was killed
    before it could make the previous profile active again): the profile is set aside, as
    that `up` would have done, and this run uses a temporary server."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
        temporary_settings,
    )

    from flows.up_profile import restore_profile

    restore_profile(None)
    typer.echo(
        f"note: the Prefect server at {url} of an earlier `newswatch up` does not answer; "
        "its profile is no longer active",
        err=True,
    )
    return temporary_settings(
        updates={PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: True}, restore_defaults={PREFECT_API_URL}
    )


def _explain_server() -> None:
    """Say in one line why the run waits when Prefect must start a temporary server."""
    if os.environ.get("PREFECT_API_URL"):
        return
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return
    typer.echo(
        "no Prefect server running: starting a temporary one for this run "
        "(10-40 s; `newswatch up` in another terminal keeps one running)",
        err=True,
    )


def lasting(echo: Callable[[str], None], fd: int) -> Callable[[str], None]:
    """echo, made to outlive its reader: once the pipe it writes to is gone (`up | tee` and
    Ctrl-C, which stops tee too), lines are dropped and the stop still runs to its end."""
    broken = False

    def write(line: str) -> None:
        nonlocal broken
        if broken:
            return
        try:
            echo(line)
        except OSError:  # EPIPE: the reader is gone; stop writing, and let exit flush nothing
            broken = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)

    return write


def up(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="the address the Prefect server binds")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the Prefect server's port")] = 4200,
    prefect_database_url: Annotated[
        str | None,
        typer.Option(
            "--prefect-database-url",
            help="the Prefect server's database, e.g. postgresql+asyncpg://user:pw@host/prefect "
            "(default: $NEWSWATCH_PREFECT_DATABASE_URL, else SQLite in PREFECT_HOME)",
            show_default=False,
        ),
    ] = None,
    start_timeout: Annotated[
        float, typer.Option(help="seconds to wait for the Prefect server to answer")
    ] = 180.0,
    stop_timeout: Annotated[
        float, typer.Option(help="seconds each process gets to stop before it is killed")
    ] = 20.0,
) -> None:
    """Start (or reuse) a Prefect server, create the pool, deploy, run a worker until stopped.

    Ctrl-C or SIGTERM stops the worker, then the server (unless it was already running).

    Example: newswatch up -c newswatch.yaml --port 4200
    """
    path, _ = load_or_exit(config)
    # httpx, YAML and SQLAlchemy's URL parsing: only when the stack really starts
    from flows.processes import stop_on_signals
    from flows.up import ServiceError, Stack, UpOptions, find_project_dir, newswatch_environment
    from newswatch.settings import get_settings

    try:
        options = UpOptions(
            host=host,
            port=port,
            project_dir=find_project_dir(Path.cwd()),
            config=path.resolve(),
            newswatch_env=newswatch_environment(path),
            prefect_database_url=prefect_database_url or get_settings().prefect_database_url,
            start_timeout=start_timeout,
            stop_timeout=stop_timeout,
        )
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    stop = threading.Event()
    say = lasting(typer.echo, sys.stdout.fileno())
    warn = lasting(lambda line: typer.echo(line, err=True), sys.stderr.fileno())
    stack = Stack(options, say, stop, warn=warn)
    with stop_on_signals(stop):
        code = stack.run()
    raise typer.Exit(code)


COMMANDS: dict[str, Lazy] = {
    **CORE_COMMANDS,
    "run": Lazy(
        "flows.cli:run",
        "Run one monitor cycle now (through Prefect; a temporary server when none is running).",
        epilog=exit_codes.EXIT_CODES_HELP,
    ),
    "up": Lazy(
        "flows.cli:up",
        "Start (or reuse) a Prefect server, create the pool, deploy, run a worker until stopped.",
    ),
}
ORDER = ("init", "run", "matches", "backtest", "up", "rules", "alerts", "feeds", "prune", "stories")

app = build_app(COMMANDS, order=ORDER)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
