"""`newswatch alerts`: test a channel, see what waits to be sent and why, send or queue again.

Nothing here reports zero while alerts wait: `status` lists every pending and failed
delivery, and `failed` and `send` say how many are still pending when they have none to show.
Imports that cost (Apprise, the database) happen inside the commands.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from newswatch.cli.common import ConfigOption, load_or_exit, open_database

if TYPE_CHECKING:
    from newswatch.config import Config
    from newswatch.models import Delivery, PendingAlert

app = typer.Typer(
    help="Test channels; see, send and retry the alerts waiting in the outbox.",
    epilog="Example: newswatch alerts status -c newswatch.yaml",
    no_args_is_help=True,
)


def _redactor(cfg: Config) -> Callable[[str], str]:
    """Hides the resolved channel URLs' secrets (stored errors are redacted already)."""
    from newswatch.notify import Redactor, channels_from

    channels, _ = channels_from(cfg, os.environ)
    return Redactor.for_channels(channels.values())


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else "-"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _print_delivery(delivery: Delivery, alert: PendingAlert, redact: Callable[[str], str]) -> None:
    if delivery.status == "dead":
        state = "gave up"
    elif delivery.kind == "digest" and delivery.attempts == 0:
        state = "in the channel's next digest"
    else:
        state = f"next try {_when(delivery.next_attempt_at)}"
    typer.echo(
        f"#{delivery.id}  {delivery.channel}  {delivery.status}  "
        f"attempts={delivery.attempts}  {state}  rule={alert.rule_id}  {alert.article_title}"
    )
    typer.echo(f"      last error: {redact(delivery.last_error) if delivery.last_error else '-'}")


@app.command("test")
def try_channel(
    channel: Annotated[str, typer.Argument(help="a channel name from the config")],
    config: ConfigOption = None,
) -> None:
    """Send a test message and say plainly whether the service accepted it.

    Example: newswatch alerts test desk-email -c newswatch.yaml
    """
    from newswatch.models import Message
    from newswatch.notify import AppriseNotifier, channels_from

    _, cfg = load_or_exit(config)
    if channel not in cfg.channels:
        known = ", ".join(sorted(cfg.channels)) or "none"
        typer.echo(f"error: no channel {channel!r} in the config (channels: {known})", err=True)
        raise typer.Exit(2)
    channels, problems = channels_from(cfg, os.environ)
    if channel not in channels:
        typer.echo(f"error: {problems[0] if problems else channel}", err=True)
        raise typer.Exit(2)
    message = Message(
        title="newswatch test message",
        body=f"This is a test of channel {channel!r}: if you can read it, alerts will arrive.",
        format="plain",
    )
    outcome = AppriseNotifier().send(channels[channel], message)
    if outcome.ok:
        typer.echo(f"channel {channel!r}: the service accepted the test message")
        return
    redact = _redactor(cfg)
    typer.echo(f"channel {channel!r}: NOT accepted: {redact(outcome.error or '')}", err=True)
    raise typer.Exit(1)


@app.command("status")
def status(config: ConfigOption = None) -> None:
    """Every alert not sent yet: channel, attempts, next try and last error, oldest first.

    Example: newswatch alerts status -c newswatch.yaml
    """
    from sqlmodel import Session

    from newswatch import store
    from newswatch.models import DeliveryStatus

    _, cfg = load_or_exit(config)
    with Session(open_database()) as session:
        rows = store.waiting_alerts(session, statuses=(DeliveryStatus.PENDING, DeliveryStatus.DEAD))
    if not rows:
        typer.echo("no alerts waiting: every alert was sent")
        return
    dead = sum(1 for d, _ in rows if d.status == DeliveryStatus.DEAD.value)
    typer.echo(
        f"{_plural(len(rows), 'alert')} waiting: {len(rows) - dead} pending, "
        f"{dead} gave up (`newswatch alerts retry` queues those again)"
    )
    redact = _redactor(cfg)
    for delivery, alert in rows:
        _print_delivery(delivery, alert, redact)


@app.command("failed")
def failed(config: ConfigOption = None) -> None:
    """Alerts whose sends failed: those that gave up, then those still being retried.

    Example: newswatch alerts failed -c newswatch.yaml
    """
    from sqlmodel import Session

    from newswatch import store
    from newswatch.models import DeliveryStatus

    _, cfg = load_or_exit(config)
    with Session(open_database()) as session:
        dead = store.waiting_alerts(session, statuses=(DeliveryStatus.DEAD,))
        pending = store.waiting_alerts(session, statuses=(DeliveryStatus.PENDING,))
    retrying = [(d, a) for d, a in pending if d.attempts > 0]
    redact = _redactor(cfg)
    for delivery, alert in dead + retrying:
        _print_delivery(delivery, alert, redact)
    if not dead and not retrying:
        typer.echo("no failed alerts")
    untried = len(pending) - len(retrying)
    if untried:
        typer.echo(f"{_plural(untried, 'alert')} not tried yet (`newswatch alerts status`)")


@app.command("retry")
def retry(
    config: ConfigOption = None,
    channel: Annotated[str | None, typer.Option(help="only this channel's")] = None,
) -> None:
    """Queue alerts that gave up again; the next run (or `alerts send`) sends them.

    Example: newswatch alerts retry --channel desk-email -c newswatch.yaml
    """
    from newswatch import store
    from newswatch.models import utcnow

    _, cfg = load_or_exit(config)
    if channel is not None and channel not in cfg.channels:
        known = ", ".join(sorted(cfg.channels)) or "none"
        typer.echo(f"error: no channel {channel!r} in the config (channels: {known})", err=True)
        raise typer.Exit(2)
    with store.session_scope(open_database()) as session:
        count = store.requeue_dead(session, now=utcnow(), channel=channel)
    typer.echo(f"queued {_plural(count, 'failed alert')} again")


@app.command("send")
def send_now(
    config: ConfigOption = None,
    now: Annotated[
        bool, typer.Option("--now", help="also those waiting for their next try")
    ] = False,
    digests: Annotated[
        bool, typer.Option("--digests", help="also send every pending digest now")
    ] = False,
) -> None:
    """Send due alerts from the outbox now, without polling feeds.

    Example: newswatch alerts send --now -c newswatch.yaml
    """
    from newswatch import store
    from newswatch.models import utcnow
    from newswatch.notify import deliver, send_digests

    _, cfg = load_or_exit(config)
    engine = open_database()
    if now:
        with store.session_scope(engine) as session:
            store.release_held(session, now=utcnow())
    report = deliver(engine, cfg, environ=os.environ, now=utcnow())
    typer.echo(
        f"alerts sent: {report.sent} (failed: {report.failed}, dead: {report.dead}, "
        f"still pending: {report.pending})"
    )
    for error in report.errors:
        typer.echo(f"  alert problem: {error}")
    if report.pending and not report.failed:
        typer.echo(
            f"  {_plural(report.pending, 'alert')} wait for their next try: "
            "`newswatch alerts status` lists them, `alerts send --now` tries them now"
        )
    if digests:
        digest = send_digests(engine, cfg, environ=os.environ, now=utcnow(), force=True)
        for name, count in digest.sent.items():
            typer.echo(f"digest to {name}: {count} matches")
        for name, error in digest.failed.items():
            typer.echo(f"digest to {name} failed: {error}")
