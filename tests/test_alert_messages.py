"""What a reader gets, as the services receive it: the email (both MIME parts) from a real
SMTP server, the JSON from a local webhook receiver, Slack's payload from a receiver that
speaks its webhook contract. One article that two rules matched is one message per channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from apprise.plugins.slack import NotifySlack
from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.notify import deliver
from tests.support.alerts_data import LAMMY, NOW, make_config, seed
from tests.support.smtp import SmtpServer
from tests.support.webhook import WebhookReceiver, running_receiver

# A second rule, through a list: the article matches both rules.
BOTH_RULES = """\
lists:
  uk: [UK, Britain, British]
rules:
  - id: britain-beijing
    name: Britain in Beijing
    query: '@uk AND Beijing'
    channels: [{channel}]
"""
SUMMARY = (
    "British Foreign Secretary David Lammy met Wang Yi in Beijing.\n"
    "Both sides said the visit marked a new starting point."
)
LINK = "https://harbourgazette.example/1200/0?a=1&b=2"
RULES = "Britain in Beijing (britain-beijing); UK-China visits (uk-china-visit)"
MATCHED = "UK (@uk), British (@uk), Beijing, China, visits, visit"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as r:
        yield r


def text_of(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content()).replace("\r\n", "\n")


def test_one_email_for_two_rules_with_link_fields_words_and_paragraphs(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    url = f"mailto://127.0.0.1:{smtp_server.port}?from=nw@example.org&to=desk@example.org"
    config = make_config(
        tmp_path, {"desk": f"url: '{url}'"}, more=BOTH_RULES.format(channel="desk")
    )
    assert seed(engine, config, [LAMMY], summary=SUMMARY) == 2

    report = deliver(engine, config, environ={}, now=NOW)

    assert (report.sent, report.failed, report.pending) == (2, 0, 0)
    (message,) = smtp_server.inbox.messages  # one email, not one per rule
    assert message["Subject"] == f"[Britain in Beijing, UK-China visits] {LAMMY}"
    text = text_of(message, "plain")
    lines = text.splitlines()
    assert lines[0] == "Lammy *visits* *Beijing* as *UK* and *China* seek a reset"
    for line in (
        f"Link: {LINK}",
        "Outlet: Harbour Gazette",
        "Published: 2024-10-18 13:00 BST",
        f"Rules: {RULES}",
        f"Matched: {MATCHED}",
    ):
        assert line in lines
    assert (
        "\n\n*British* Foreign Secretary David Lammy met Wang Yi in *Beijing*.\n\n"
        "Both sides said the *visit* marked a new starting point." in text
    )
    html = text_of(message, "html")
    assert f"<td>{MATCHED}</td>" in html
    assert f"<td>{RULES}</td>" in html
    assert "<p>Both sides said the <mark><b>visit</b></mark> marked" in html
    (message_id,) = message.get_all("Message-ID")  # exactly one, made by newswatch
    assert message_id.startswith("<newswatch.")
    with Session(engine) as session:
        assert {d.status for d in store.deliveries(session)} == {"sent"}


def test_the_json_webhook_gets_the_alert_as_fields(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = make_config(
        tmp_path,
        {"hook": f"url: {receiver.json_url()}"},
        more=BOTH_RULES.format(channel="hook"),
    )
    seed(engine, config, [LAMMY], summary=SUMMARY)

    deliver(engine, config, environ={}, now=NOW)

    (posted,) = receiver.accepted()
    payload = posted.payload
    assert payload["rule"] == "britain-beijing, uk-china-visit"
    assert payload["rule_name"] == "Britain in Beijing, UK-China visits"
    assert payload["headline"] == LAMMY
    assert payload["url"] == LINK
    assert payload["outlet"] == "Harbour Gazette"
    assert payload["published"] == "2024-10-18T12:00:00+00:00"
    assert payload["matched"] == MATCHED
    assert payload["title"] == f"[Britain in Beijing, UK-China visits] {LAMMY}"
    assert f"Rules: {RULES}" in payload["message"]


def test_slack_gets_the_same_facts(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Apprise's Slack plugin posts to hooks.slack.com; point it at the local receiver.
    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{receiver.port}/services")
    config = make_config(
        tmp_path,
        {"slack": "url: slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"},
        more=BOTH_RULES.format(channel="slack"),
    )
    seed(engine, config, [LAMMY], summary=SUMMARY)

    deliver(engine, config, environ={}, now=NOW)

    (posted,) = receiver.accepted()
    # A word joiner after "@" keeps "@uk" from reading as a mention; the reader sees "@uk".
    text = posted.payload["attachments"][0]["text"].replace("\u2060", "")
    assert f"\nLink: {LINK.replace('&', '&amp;')}\n" in text  # a bare URL, which Slack links
    for fact in ("Harbour Gazette", "2024-10-18 13:00 BST", RULES, MATCHED):
        assert fact in text


def test_a_rate_limit_counts_messages_not_the_rules_they_list(
    engine: Engine, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = make_config(
        tmp_path,
        {"hook": f"url: {receiver.json_url()}\nrate_limit_per_minute: 2"},
        more=BOTH_RULES.format(channel="hook"),
    )
    titles = [f"UK minister visits Beijing to meet China's leaders, day {i}" for i in range(3)]
    assert seed(engine, config, titles, summary=SUMMARY) == 6  # two rules each

    first = deliver(engine, config, environ={}, now=NOW)
    second = deliver(engine, config, environ={}, now=NOW + timedelta(seconds=61))

    assert (first.sent, first.deferred, second.sent) == (4, 2, 2)  # deliveries, 2 per message
    assert [r.payload["headline"] for r in receiver.accepted()] == titles
