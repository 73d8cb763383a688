"""Alert delivery with real peers: SMTP (aiosmtpd), a json:// receiver, Slack's webhook contract.

Matches are made by the real matcher and stored by the real store; only sending is exercised
here (the feed side is in test_pipeline.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import typer.main
from apprise.plugins.slack import NotifySlack
from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.notify import deliver, send_digests
from tests.support.alerts_data import LAMMY, NOW, make_config, seed
from tests.support.smtp import SmtpServer, free_port, running_smtp_server
from tests.support.webhook import Reply, WebhookReceiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture
def operator() -> Iterator[WebhookReceiver]:
    with running_receiver() as r:
        yield r


def test_email_has_text_and_html_parts_with_escaping_and_highlights(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    url = f"mailto://127.0.0.1:{smtp_server.port}?from=nw@example.org&to=desk@example.org"
    config = make_config(tmp_path, {"desk-email": f"url: '{url}'"})
    seed(engine, config, ["UK envoy to visit China <script>alert(1)</script> & more"])

    report = deliver(engine, config, environ={}, now=NOW)

    assert report.sent == 1
    (message,) = smtp_server.inbox.messages
    assert message["Subject"] == (
        "[UK-China visits] UK envoy to visit China <script>alert(1)</script> & more"
    )
    assert message.get_content_type() == "multipart/alternative"
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    assert html_part is not None
    assert text_part is not None
    html = html_part.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "<script>" not in html
    assert "<mark><b>UK</b></mark>" in html
    assert "<mark><b>visit</b></mark>" in html
    assert 'href="https://harbourgazette.example/1200/0?a=1&amp;b=2"' in html
    assert "Harbour Gazette" in html
    assert "2024-10-18 13:00 BST" in html  # the channel's time zone (Europe/London)
    text = text_part.get_content()
    assert "*UK* envoy to *visit* *China* <script>" in text  # plain text: nothing to escape
    assert "<mark>" not in text


def test_json_webhook_receives_one_message_per_match(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"hook": f"url: {receiver.json_url()}"})
    seed(engine, config, [LAMMY, "UK minister to visit China in spring", "Unrelated news"])

    first = deliver(engine, config, environ={}, now=NOW)
    again = deliver(engine, config, environ={}, now=NOW + timedelta(hours=1))

    assert (first.sent, again.sent) == (2, 0)
    titles = sorted(r.payload["title"] for r in receiver.accepted())
    assert titles == [
        f"[UK-China visits] {LAMMY}",
        "[UK-China visits] UK minister to visit China in spring",
    ]


def test_slack_gets_text_with_the_link_and_mentions_never_ping(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Apprise's Slack plugin posts to hooks.slack.com; point it at the local receiver,
    # which answers as Slack's incoming webhooks do (200 "ok").
    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{receiver.port}/services")
    config = make_config(
        tmp_path, {"asia-slack": "url: slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"}
    )
    seed(engine, config, ["<!channel> UK to visit China <@U024BE7LH> & <!here|here>"])

    report = deliver(engine, config, environ={}, now=NOW)

    assert report.sent == 1
    (posted,) = receiver.accepted()
    assert posted.path == "/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"
    payload = posted.payload
    # Text, not mrkdwn: Slack has no backslash escapes (docs/alerts.md, "What feed text can do").
    assert payload["mrkdwn"] is False
    attachment = payload["attachments"][0]
    everything = attachment["title"] + attachment["text"]
    for mention in ("<!channel>", "<!here", "<@U024BE7LH>"):
        assert mention not in everything
    assert "&lt;!channel&gt;" in attachment["text"]
    assert "&lt;@\u2060U024BE7LH&gt;" in attachment["text"]  # shown, never a mention
    assert "&amp;" in attachment["text"]
    assert "\nLink: https://harbourgazette.example/1200/0?a=1&amp;b=2\n" in attachment["text"]
    assert "*UK*" in attachment["text"]  # highlighted terms are marked as in plain text


def test_a_500_keeps_the_alert_pending_then_dead_and_the_operator_hears_once(
    engine: Engine, receiver: WebhookReceiver, operator: WebhookReceiver, tmp_path: Path
) -> None:
    receiver.default = Reply(status=500, body=b"boom")
    config = make_config(
        tmp_path,
        {
            "hook": f"url: {receiver.json_url()}\nmax_attempts: 3",
            "ops": f"url: {operator.json_url()}",
        },
        extra="  operator_channel: ops",
    )
    seed(engine, config, [LAMMY])

    # The rule alerts both channels; "ops" works, "hook" fails three times.
    reports = [deliver(engine, config, environ={}, now=NOW + timedelta(hours=h)) for h in range(4)]

    assert [r.failed for r in reports] == [1, 1, 1, 0]
    assert reports[2].dead == 1
    with Session(engine) as s:
        by_channel = {d.channel: d for d in store.deliveries(s)}
    assert by_channel["hook"].status == "dead"
    assert by_channel["hook"].attempts == 3
    assert "500" in (by_channel["hook"].last_error or "")
    assert by_channel["ops"].status == "sent"
    ops_titles = [r.payload["title"] for r in operator.accepted()]
    assert ops_titles == [
        f"[UK-China visits] {LAMMY}",  # the alert itself
        "newswatch: alerts to 'hook' gave up",  # once, when it died
    ]


def test_a_failing_operator_channel_never_alerts_itself(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    receiver.default = Reply(status=500)
    config = make_config(
        tmp_path,
        {"ops": f"url: {receiver.json_url()}\nmax_attempts: 1"},
        extra="  operator_channel: ops",
    )
    seed(engine, config, [LAMMY])

    report = deliver(engine, config, environ={}, now=NOW)

    assert report.dead == 1
    assert len(receiver.received) == 1  # the alert's one attempt, no "gave up" message


def test_a_429_backs_off_and_the_queue_waits_in_order(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    receiver.plan = [Reply(status=429, headers={"Retry-After": "30"})]
    config = make_config(tmp_path, {"hook": f"url: {receiver.json_url()}"})
    seed(engine, config, [f"UK visit to China, part {i}" for i in range(3)])

    first = deliver(engine, config, environ={}, now=NOW)
    too_soon = deliver(engine, config, environ={}, now=NOW + timedelta(seconds=30))
    later = deliver(engine, config, environ={}, now=NOW + timedelta(minutes=2))

    # One attempt while rate-limited (the other two wait untried), then all three in order.
    assert (first.sent, first.failed, first.deferred) == (0, 1, 0)
    assert too_soon.sent == 0
    assert later.sent == 3
    assert [r.status for r in receiver.received] == [429, 200, 200, 200]
    sent_titles = [r.payload["title"] for r in receiver.accepted()]
    assert sent_titles == [f"[UK-China visits] UK visit to China, part {i}" for i in range(3)]


def test_rate_limit_spreads_messages_over_minutes(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = make_config(
        tmp_path, {"hook": f"url: {receiver.json_url()}\nrate_limit_per_minute: 2"}
    )
    seed(engine, config, [f"UK visit to China, part {i}" for i in range(5)])

    sent = [
        deliver(engine, config, environ={}, now=NOW + timedelta(seconds=61 * i)).sent
        for i in range(4)
    ]

    assert sent == [2, 2, 1, 0]
    assert len(receiver.accepted()) == 5


def test_digest_groups_by_rule_newest_first_and_sends_each_match_once(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = make_config(
        tmp_path,
        {
            "daily": (
                f"url: {receiver.json_url()}\nmode: digest\n"
                "digest_cron: '0 8 * * *'\ntimezone: Europe/London"
            )
        },
    )
    assert send_digests(engine, config, environ={}, now=NOW).sent == {}  # nothing: no message
    seed(engine, config, ["UK visit to China: day one", "UK visit to China: day two"], at=NOW)

    instant = deliver(engine, config, environ={}, now=NOW)
    not_yet = send_digests(engine, config, environ={}, now=NOW + timedelta(hours=18))
    due = send_digests(engine, config, environ={}, now=NOW + timedelta(hours=19, minutes=1))
    after = send_digests(engine, config, environ={}, now=NOW + timedelta(days=2))

    assert instant.sent == 0  # digest matches are not sent one by one
    assert not_yet.sent == {}  # 06:00 London on the 19th: not 08:00 yet
    assert due.sent == {"daily": 2}
    assert after.sent == {}
    (message,) = receiver.accepted()
    body = message.payload["message"]
    assert message.payload["title"] == "newswatch digest: 2 new matches"
    assert "UK-China visits (uk-china-visit): 2" in body
    assert body.index("day one") < body.index("day two")  # day one is the newer (i=0)


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def test_alerts_cli_test_failed_and_retry(
    engine: Engine, database_url: str, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"hook": f"url: {receiver.json_url()}\nmax_attempts: 1"})
    env = {"NEWSWATCH_DATABASE_URL": database_url, "NEWSWATCH_CONFIG": "newswatch.yaml"}

    ok = run_cli("alerts", "test", "hook", cwd=tmp_path, env=env)
    receiver.default = Reply(status=500)
    refused = run_cli("alerts", "test", "hook", cwd=tmp_path, env=env)

    assert ok.returncode == 0, ok.stderr
    assert "the service accepted the test message" in ok.stdout
    assert refused.returncode == 1
    assert "NOT accepted" in refused.stderr
    assert "500" in refused.stderr

    seed(engine, config, [LAMMY])
    deliver(engine, config, environ={}, now=NOW)
    failed = run_cli("alerts", "failed", cwd=tmp_path, env=env)
    assert LAMMY in failed.stdout
    assert "last error:" in failed.stdout

    receiver.default = Reply()
    retried = run_cli("alerts", "retry", cwd=tmp_path, env=env)
    assert "queued 1 failed alert again" in retried.stdout
    sent = run_cli("alerts", "send", cwd=tmp_path, env=env)
    assert "alerts sent: 1" in sent.stdout
    assert receiver.accepted()[-1].payload["title"] == f"[UK-China visits] {LAMMY}"
    assert "no failed alerts" in run_cli("alerts", "failed", cwd=tmp_path, env=env).stdout


def test_alerts_status_failed_and_send_show_what_waits_while_smtp_is_down_then_up(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens: the mail server is down
    url = (
        f"mailto://alerts:${{SMTP_PASSWORD}}@127.0.0.1:{port}"
        "?from=nw@example.org&to=desk@example.org"
    )
    secret = "s3cret-smtp-pass"  # noqa: S105 (a fake credential that must never show)
    env = {"NEWSWATCH_DATABASE_URL": database_url, "SMTP_PASSWORD": secret}
    monkeypatch.setenv("SMTP_PASSWORD", secret)
    config = make_config(tmp_path, {"mail": f"url: '{url}'"})
    (tmp_path / "newswatch.yaml").rename(tmp_path / "desk.yaml")
    seed(engine, config, [LAMMY])
    first = deliver(engine, config, environ={"SMTP_PASSWORD": secret}, now=NOW)
    assert (first.sent, first.failed, first.pending) == (0, 1, 1)

    down = {
        args[1]: run_cli(*args, "-c", "desk.yaml", cwd=tmp_path, env=env)
        for args in (("alerts", "status"), ("alerts", "failed"), ("alerts", "send"))
    }
    with running_smtp_server(port, accept_login=True) as smtp:
        not_yet = run_cli("alerts", "send", "-c", "desk.yaml", cwd=tmp_path, env=env)
        now = run_cli("alerts", "send", "--now", "-c", "desk.yaml", cwd=tmp_path, env=env)
        after = run_cli("alerts", "status", "-c", "desk.yaml", cwd=tmp_path, env=env)
        received = smtp.inbox.subjects()

    for done in [*down.values(), not_yet, now, after]:
        assert done.returncode == 0, done.stderr
        assert secret not in done.stdout + done.stderr
    status = down["status"].stdout
    assert "1 alert waiting: 1 pending, 0 gave up" in status
    assert "mail  pending  attempts=1  next try 2024-10-18 12:00:45 UTC" in status
    assert LAMMY in status
    assert "last error: " in status
    assert "last error: -" not in status
    assert "mail  pending  attempts=1" in down["failed"].stdout
    assert "no failed alerts" not in down["failed"].stdout
    assert "alerts sent: 0 (failed: 1, dead: 0, still pending: 1)" in down["send"].stdout
    assert "alerts sent: 0 (failed: 0, dead: 0, still pending: 1)" in not_yet.stdout
    assert "1 alert wait for their next try" in not_yet.stdout
    assert "alerts sent: 1 (failed: 0, dead: 0, still pending: 0)" in now.stdout
    assert received == [f"[UK-China visits] {LAMMY}"]
    assert "no alerts waiting" in after.stdout


def test_every_alerts_command_takes_a_config_and_shows_an_example() -> None:
    from newswatch.cli.alerts import app

    commands = typer.main.get_group(app).commands
    assert sorted(commands) == ["failed", "retry", "send", "status", "test"]
    for name, command in commands.items():
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        assert {"-c", "--config"} <= options, name
        assert f"Example: newswatch alerts {name}" in (command.help or ""), name


ROOT = Path(__file__).resolve().parents[1]


def readme_alerts_commands() -> list[str]:
    """The commands of the README's "Channels and alerts" section, as a user would paste them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Channels and alerts", 1)[1].split("\n### ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_alerts_commands_work_verbatim(
    engine: Engine, database_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    config = make_config(tmp_path, {"desk-email": f"url: '{smtp_server.channel_url()}'"})
    seed(engine, config, [LAMMY])  # one alert waits in the outbox, not tried yet
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_DATABASE_URL"] = database_url
    commands = readme_alerts_commands()

    done = [
        subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        for command in commands
    ]

    assert [c.split()[2] for c in commands] == ["test", "status", "failed", "send", "retry"]
    for command, result in zip(commands, done, strict=True):
        assert result.returncode == 0, (command, result.stderr)
    test, status, failed, send, retry = (d.stdout for d in done)
    assert "the service accepted the test message" in test
    assert "1 alert waiting: 1 pending, 0 gave up" in status
    assert "1 alert not tried yet" in failed
    assert "alerts sent: 1 (failed: 0, dead: 0, still pending: 0)" in send
    assert "queued 0 failed alerts again" in retry
    assert smtp_server.inbox.subjects() == [
        "newswatch test message",
        f"[UK-China visits] {LAMMY}",
    ]
