"""`newswatch alerts`: test a channel, list the deliveries that gave up, queue them again."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from sqlmodel import Session

from newswatch import store
from newswatch.cli.common import ConfigOption, load_or_exit, open_database
from newswatch.models import Message, utcnow
from newswatch.notify import AppriseNotifier, Redactor, channels_from, deliver, send_digests

app = typer.Typer(help="Test channels and manage failed alerts.", no_args_is_help=True)


@app.command("test")
def try_channel(
    channel: Annotated[str, typer.Argument(help="a channel name from the config")],
    config: ConfigOption = None,
) -> None:
    """Send a test message and say plainly whether the service accepted it."""
    _, cfg = load_or_exit(config)
    if channel not in cfg.channels:
        known = ", ".join(sorted(cfg.channels)) or "none"
        typer.echo(f"error: no channel {channel!r} in the config (channels: {known})", err=True)
        raise typer.Exit(2)
    channels, problems = channels_from(cfg, os.environ)
    if channel not in channels:
        typer.echo(f"error: {problems[0] if problems else channel}", err=True)
        raise typer.Exit(2)
    chan = channels[channel]
    message = Message(
        title="newswatch test message",
        body=f"This is a test of channel {channel!r}: if you can read it, alerts will arrive.",
        format="plain",
    )
    redact = Redactor.for_channels(channels.values())
    outcome = AppriseNotifier().send(chan, message)
    if outcome.ok:
        typer.echo(f"channel {channel!r}: the service accepted the test message")
        return
    typer.echo(f"channel {channel!r}: NOT accepted: {redact(outcome.error or '')}", err=True)
    raise typer.Exit(1)


@app.command("failed")
def failed() -> None:
    """List deliveries that gave up after their last attempt, oldest first."""
    engine = open_database()
    with Session(engine) as session:
        rows = store.dead_alerts(session)
    if not rows:
        typer.echo("no failed alerts")
        return
    for delivery, alert in rows:
        typer.echo(
            f"#{delivery.id}  {alert.channel:<16} {alert.rule_id:<20} "
            f"attempts={delivery.attempts}  {alert.article_title}"
        )
        typer.echo(f"      last error: {delivery.last_error or '-'}")


@app.command("retry")
def retry(
    channel: Annotated[str | None, typer.Option(help="only this channel's")] = None,
) -> None:
    """Queue failed deliveries again; the next cycle (or `alerts send`) sends them."""
    engine = open_database()
    with store.session_scope(engine) as session:
        count = store.requeue_dead(session, now=utcnow(), channel=channel)
    typer.echo(f"queued {count} failed alert{'s' if count != 1 else ''} again")


@app.command("send")
def send_now(
    config: ConfigOption = None,
    digests: Annotated[
        bool, typer.Option("--digests", help="also send every pending digest now")
    ] = False,
) -> None:
    """Send due alerts from the outbox now, without polling feeds."""
    _, cfg = load_or_exit(config)
    engine = open_database()
    report = deliver(engine, cfg, environ=os.environ, now=utcnow())
    typer.echo(f"alerts sent: {report.sent} (failed: {report.failed}, dead: {report.dead})")
    for error in report.errors:
        typer.echo(f"  alert problem: {error}")
    if digests:
        digest = send_digests(engine, cfg, environ=os.environ, now=utcnow(), force=True)
        for name, count in digest.sent.items():
            typer.echo(f"digest to {name}: {count} matches")
        for name, error in digest.failed.items():
            typer.echo(f"digest to {name} failed: {error}")
