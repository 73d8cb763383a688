"""Nothing a feed writes can act on the reader: hostile headlines, summaries and links sent
through Apprise to local receivers that speak each target's contract (SMTP, Slack, Discord,
Mattermost, Microsoft Teams (workflows, over TLS) and Telegram webhooks, json:// and
form://), and what they received checked.

Every hostile string is one alert (in its title, its summary and its link), sent directly
through render_alert and the AppriseNotifier: no cycle, so the suite stays fast. Each target
must show the author's words (made literal), and none may carry a mention, a channel ping,
a link other than the alert's own http(s) one, an image, or an invisible override.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.slack import NotifySlack
from apprise.plugins.telegram import NotifyTelegram

from newswatch.models import Message, PendingAlert
from newswatch.notify.channels import Channel, channel_format, service_format
from newswatch.notify.escaping import visible
from newswatch.notify.notifier import AppriseNotifier
from newswatch.notify.render import render_alert
from tests.support.smtp import SmtpServer
from tests.support.tls import server_context
from tests.support.webhook import Reply, WebhookReceiver, running_receiver

HOSTILE = [
    # mentions and pings
    "<!channel> now",
    "<!here|here>",
    "<!everyone>",
    "<@U024BE7LH>",
    "<#C024BE7LH|general>",
    "@everyone look",
    "@here look",
    "@channel and @all",
    "<@123456789012345678> and <@&987654321098765432>",
    "<at>Desk Lead</at>",
    # links, disguised links and images
    "[everyone](!channel)",
    "[y](@U12345)",
    "[click me](https://evil.example)",
    "<https://evil.example|Reuters>",
    "![pixel](https://evil.example/p.gif)",
    "https://evil.example/login bare",
    '<a href="https://evil.example">html link</a>',
    '<img src="https://evil.example/p.gif" onerror="alert(1)">',
    "[ref]: https://evil.example",
    # formatting and code
    "**bold** __under__ *it* _it_ ~~strike~~ ~strike~",
    "`code span` and ```block```",
    "# Heading",
    "> quoted line",
    "- list item",
    "1. numbered",
    "||spoiler||",
    "a | table | row",
    # HTML and entities
    "<script>alert(1)</script>",
    "<b>bold</b><i>it</i>",
    "&lt;b&gt;escaped&lt;/b&gt; &amp;amp;",
    "AT&T & Co",
    "\"quotes\" 'single'",
    "</td></tr></table><h1>break out</h1>",
    # control, bidi and invisible characters
    "Safe\u202egpj.exe",
    "iso\u2066late\u2069 and \u200fmark\u200e",
    "zero\u200bwidth\ufeffbom",
    "bell\x07 escape\x1b[31m red",
    "tab\there",
    # very long words
    "A" * 600,
    "word" + "-" * 300 + "end",
    # hostile links (also each string above is used as a link)
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "JaVaScRiPt:alert(document.cookie)",
    "https://ok.example/a?b=<c>&d=(e)",
]
NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
# What no target may carry as a result of feed text.
MENTIONS = re.compile(r"<[!@#]|@(?:everyone|here|channel|all)\b|<at>", re.IGNORECASE)


def alert(i: int, text: str) -> PendingAlert:
    return PendingAlert(
        delivery_id=i + 1,
        channel="c",
        attempts=0,
        article_id=i + 1,
        rule_id="r",
        rule_name="Watch",
        terms=[],
        article_title=f"T{i} {text}",
        article_summary=f"S{i} {text}",
        article_url=text,
        source="Gazette",
        published_at=NOW,
        also_reported_by=[],
        highlights={},
        created_at=NOW,
    )


def send_all(url: str) -> list[Message]:
    fmt = channel_format(url, None, service_format(url))
    channel = Channel(name="c", url=url, format=fmt)
    messages = [render_alert([alert(i, s)], fmt=fmt, zone="UTC") for i, s in enumerate(HOSTILE)]
    notifier = AppriseNotifier()
    for message in messages:
        assert notifier.send(channel, message).ok
    return messages


def markdown_shown(text: str) -> str:
    """What a Markdown renderer shows of escaped text: backslash escapes and joiners gone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("\u2060", "")


def literal(text: str) -> str:
    """A hostile string as a reader must see it: its words, its invisible characters gone
    (runs of spaces are one, as every renderer shows them)."""
    return " ".join(visible(text).split())


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as server:
        yield server


def only_the_alerts_links(text: str, allowed: set[str]) -> None:
    for url in re.findall(r"\]\(([^)]*)\)", text):
        assert url in allowed, url
    assert "![" not in text.replace("\\![", "")


def test_slack(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{receiver.port}/services")
    monkeypatch.setattr(NotifySlack, "request_rate_per_sec", 0)
    send_all("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7")

    posted = receiver.accepted()
    assert len(posted) == len(HOSTILE)
    for i, (received, text) in enumerate(zip(posted, HOSTILE, strict=True)):
        body = received.payload["attachments"][0]["text"]
        title = received.payload["attachments"][0]["title"]
        # Slack's control syntax: only the alert's own http(s) link is an anchor.
        anchors = re.findall(r"<([^>]*)>", body + title)
        assert all(a.startswith(("https://", "http://")) for a in anchors), anchors
        if anchors:
            assert anchors[0].split("|")[0] == html.escape(text, quote=False)
        assert not MENTIONS.search(body.replace("\u2060", "_") + title)
        shown = html.unescape(markdown_shown(body))
        assert f"S{i} {literal(text)}"[:200] in " ".join(shown.split())


@pytest.mark.parametrize("service", ["discord", "mattermost"])
def test_discord_and_mattermost_get_escaped_markdown(
    service: str, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    if service == "discord":
        hook = f"http://127.0.0.1:{receiver.port}/api/webhooks"
        monkeypatch.setattr(NotifyDiscord, "notify_url", hook)
        url, key = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "content"
    else:
        url, key = f"mmost://127.0.0.1:{receiver.port}/3ccdd113474722377935511fc85d3dd4", "text"
    messages = send_all(url)

    assert {m.format for m in messages} == {"chat"}
    posted = receiver.accepted()
    assert len(posted) == len(HOSTILE)
    for i, (received, text) in enumerate(zip(posted, HOSTILE, strict=True)):
        content = received.payload[key]
        assert "allowed_mentions" not in received.payload  # Apprise sends none: text defuses
        assert not MENTIONS.search(content.replace("\\<", "_").replace("\u2060", "_"))
        only_the_alerts_links(content, {text} if text.startswith("https://") else set())
        assert "://evil" not in content  # a bare URL in feed text is never autolinked
        assert f"S{i} {literal(text)}"[:200] in " ".join(markdown_shown(content).split())


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_teams_workflow_cards(tmp_path: Path) -> None:
    receiver = WebhookReceiver()
    receiver._httpd.socket = server_context(tmp_path).wrap_socket(
        receiver._httpd.socket, server_side=True
    )
    receiver.start()
    try:
        send_all(f"workflows://127.0.0.1:{receiver.port}/abc123/sig456?verify=no")
    finally:
        receiver.stop()

    posted = receiver.accepted()
    assert len(posted) == len(HOSTILE)
    for i, (received, text) in enumerate(zip(posted, HOSTILE, strict=True)):
        card = received.payload["attachments"][0]["content"]
        body = next(b["text"] for b in card["body"] if b.get("id") == "body")
        assert "entities" not in json.dumps(received.payload)  # no <at> mention was made
        assert not MENTIONS.search(body.replace("\\<", "_").replace("\u2060", "_"))
        only_the_alerts_links(body, {text} if text.startswith("https://") else set())
        assert f"S{i} {literal(text)}"[:200] in " ".join(markdown_shown(body).split())


def test_telegram_html(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NotifyTelegram, "notify_url", f"http://127.0.0.1:{receiver.port}/bot")
    monkeypatch.setattr(NotifyTelegram, "request_rate_per_sec", 0)
    receiver.default = Reply(body=b'{"ok": true, "result": {"message_id": 1}}')
    send_all("tgram://123456789:abcdefgh_0123456789ABCDEFGHIJKLMNOPQ/-1001234567890")

    posted = [r for r in receiver.accepted() if r.path.endswith("/sendMessage")]
    assert len(posted) == len(HOSTILE)
    for i, (received, text) in enumerate(zip(posted, HOSTILE, strict=True)):
        assert received.payload["parse_mode"] == "HTML"
        body = received.payload["text"]
        hrefs = re.findall(r"<a\s+href=\"([^\"]*)\"", body)
        assert all(html.unescape(h) == text for h in hrefs)
        assert not hrefs or text.startswith("https://")
        assert not re.search(r"<(?:img|script)", body)
        shown = html.unescape(re.sub(r"<[^>]+>", "", body))
        assert f"S{i} {literal(text)}"[:200] in " ".join(shown.split())


def test_email(smtp_server: SmtpServer) -> None:
    url = f"mailto://127.0.0.1:{smtp_server.port}?from=nw@example.org&to=desk@example.org"
    send_all(url)

    inbox = smtp_server.inbox.messages
    assert len(inbox) == len(HOSTILE)
    for i, (message, text) in enumerate(zip(inbox, HOSTILE, strict=True)):
        subject = str(message["Subject"])
        assert not re.search(r"[\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff\x00-\x1f]", subject)
        part = message.get_body(preferencelist=("html",))
        assert part is not None
        body = str(part.get_content())
        hrefs = re.findall(r"href=\"([^\"]*)\"", body)
        assert all(html.unescape(h) == text for h in hrefs)
        assert not hrefs or text.startswith("https://")
        assert not re.search(r"<(?:img|script|h1)", body)
        plain = message.get_body(preferencelist=("plain",))
        assert plain is not None
        shown = " ".join(str(plain.get_content()).split())
        assert f"S{i} {literal(text)}"[:200] in shown


@pytest.mark.parametrize("scheme", ["json", "form"])
def test_json_and_form_fields(scheme: str, receiver: WebhookReceiver) -> None:
    send_all(f"{scheme}://127.0.0.1:{receiver.port}/hook")

    posted = receiver.accepted()
    assert len(posted) == len(HOSTILE)
    for i, (received, text) in enumerate(zip(posted, HOSTILE, strict=True)):
        payload = received.payload
        if scheme == "form":
            payload = {k: v[0] for k, v in parse_qs(payload, keep_blank_values=True).items()}
        assert payload["url"] in ("", text)
        assert payload["url"] == "" or text.startswith("https://")
        assert payload["headline"] == visible(f"T{i} {text}")
        assert not re.search(r"[\u202a-\u202e\u2066-\u2069]", payload["title"])
