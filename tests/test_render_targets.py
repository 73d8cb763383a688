"""Nothing a feed writes can act on the reader: hostile headlines, summaries and links sent
through Apprise to local receivers that speak each target's contract (SMTP, Slack, Discord,
Mattermost, Microsoft Teams (workflows, over TLS) and Telegram's bot API in HTML and
MarkdownV2, json:// and form://), and what they received checked.

Every hostile string is one alert (in its title, its summary and its link), sent directly
through render_alert and the AppriseNotifier: no cycle, so the suite stays fast. Each target
must show the author's words (made literal), and none may carry a mention, a channel ping,
a link other than the alert's own http(s) one, an image, or an invisible override; Slack and
Teams, which have no backslash escapes, must show no backslash the feed did not write.
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
from newswatch.notify.escaping import visible, web_link
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
    "@durov and /start@newswatch_bot",
    "write to desk@example.org",
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
    # a backslash the author wrote is shown, and escapes nothing
    "back\\slash \\*not bold\\* C:\\path\\",
    # very long words
    "A" * 600,
    "word" + "-" * 300 + "end",
    # hostile links (also each string above is used as a link)
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "JaVaScRiPt:alert(document.cookie)",
    "https://ok.example/a?b=<c>&d=(e)",
    "https://ok.example/under_score*star~tilde?q=a&b=c",  # the alert's own link: a link
]
NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
# What no target may carry as a result of feed text.
MENTIONS = re.compile(r"<[!@#]|@(?:everyone|here|channel|all)\b|<at>", re.IGNORECASE)
# Telegram: any "@" that a username could follow is a mention there; "/cmd" is a command.
TELEGRAM_MENTION = re.compile(r"@[A-Za-z0-9_]|(?<!\S)/[A-Za-z]")
WJ = "\u2060"  # the word joiner the policies put beside what must not act


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


def no_added_backslash(shown: str, text: str) -> None:
    """Every backslash the receiver got is one the feed wrote (`shown`: joiners removed)."""
    assert shown.count("\\") == text.count("\\") * shown.count(visible(text)), shown


def live_marks(text: str) -> list[str]:
    """Formatting markers at a place they could format: not held between two word joiners
    (Slack and Teams format a marker only at a word boundary)."""
    return [
        text[max(0, m.start() - 10) : m.end() + 10]
        for m in re.finditer(r"[*_~`]", text)
        if text[m.start() - 1 : m.start()] != WJ or text[m.end() : m.end() + 1] != WJ
    ]


def only_the_alerts_links(text: str, allowed: set[str]) -> None:
    for url in re.findall(r"\]\(([^)]*)\)", text):
        assert url in allowed, url
    assert not re.search(r"(?<!\\)!\[[^\]]*\]\(", text)  # an image


def test_slack(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{receiver.port}/services")
    monkeypatch.setattr(NotifySlack, "request_rate_per_sec", 0)
    send_all("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7")

    posted = receiver.accepted()
    assert len(posted) == len(HOSTILE)
    for i, (received, text) in enumerate(zip(posted, HOSTILE, strict=True)):
        body = received.payload["attachments"][0]["text"]
        title = received.payload["attachments"][0]["title"]
        # Sent as text: Slack is asked for no mrkdwn, and & < > are its only escapes, so no
        # <!channel>, <@U…> or <url|label> control sequence can form.
        assert received.payload["mrkdwn"] is False
        assert not re.search("[<>]", body + title)
        assert not MENTIONS.search(body + title)
        link = web_link(text)
        own_link = f"\nLink: {html.escape(link, quote=False)}\n" if link else ""
        assert own_link in body  # a bare URL, which Slack links
        feed_part = body.replace(own_link, "\n") if own_link else body
        assert not live_marks(feed_part), live_marks(feed_part)
        shown = html.unescape(body.replace(WJ, ""))
        no_added_backslash(shown, text)
        assert f"S{i} {literal(text)}"[:200] in " ".join(shown.split())
        assert "://evil" not in body  # a bare URL in feed text is never autolinked


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


# newswatch's own Markdown in a Teams card: the fact labels and the alert's link.
OWN_TEAMS_MARKUP = re.compile(r"^\*\*[A-Z][A-Za-z ]*:\*\* |\]\(https?://[^)\s]*\)", re.MULTILINE)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_teams_workflow_cards(tmp_path: Path) -> None:
    receiver = WebhookReceiver()
    receiver._httpd.socket = server_context(tmp_path).wrap_socket(
        receiver._httpd.socket, server_side=True
    )
    receiver.start()
    try:
        messages = send_all(f"workflows://127.0.0.1:{receiver.port}/abc123/sig456?verify=no")
    finally:
        receiver.stop()

    assert {m.format for m in messages} == {"teams"}
    posted = receiver.accepted()
    assert len(posted) == len(HOSTILE)
    for i, (received, text) in enumerate(zip(posted, HOSTILE, strict=True)):
        card = received.payload["attachments"][0]["content"]
        body = next(b["text"] for b in card["body"] if b.get("id") == "body")
        title = next(b["text"] for b in card["body"] if b.get("id") == "title")
        assert "entities" not in json.dumps(received.payload)  # no <at> mention was made
        for block in (body, title):
            assert not MENTIONS.search(block)
            feed_part = OWN_TEAMS_MARKUP.sub("", block)
            # Teams renders a subset of Markdown and no backslash escape: nothing in the feed
            # text may open a list, a heading or a quote, or sit where it could format.
            assert not live_marks(feed_part), live_marks(feed_part)
            assert not re.search(r"^\s*(?:[-+*>#]|\d+[.)])", feed_part, re.MULTILINE)
            assert "](" not in feed_part  # no link, no image ![…](…)
            shown = block.replace(WJ, "")
            no_added_backslash(shown, text)
            assert f"{literal(text)}"[:200] in " ".join(shown.split())
        only_the_alerts_links(body, {text} if web_link(text) else set())
        assert "://evil" not in body  # a bare URL in feed text is never autolinked
        assert f"S{i} {literal(text)}"[:200] in " ".join(body.replace(WJ, "").split())


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
        # No @username, no /command from the feed (title and summary alike): Telegram finds
        # them in the text whatever the parse mode, and would notify or send them.
        assert not TELEGRAM_MENTION.search(html.unescape(re.sub(r"<[^>]+>", "", body)))
        hrefs = re.findall(r"<a\s+href=\"([^\"]*)\"", body)
        assert all(html.unescape(h) == text for h in hrefs)
        assert not hrefs or text.startswith("https://")
        assert not re.search(r"<(?:img|script)", body)
        shown = html.unescape(re.sub(r"<[^>]+>", "", body)).replace(WJ, "")
        assert f"S{i} {literal(text)}"[:200] in " ".join(shown.split())


# newswatch's own Markdown in a Telegram message: the fact labels and the alert's link.
OWN_TELEGRAM_MARKUP = re.compile(
    r"^\*[A-Z][A-Za-z ]*:\* |\[open\]\(https?://[^)\s]*\)", re.MULTILINE
)
# What Telegram honours after a backslash: Markdown v1 only _ * ` [, MarkdownV2 all of 1-126.
TELEGRAM_ESCAPES = {"v1": re.compile(r"\\([_*`\[])"), "v2": re.compile(r"\\([!-~])")}
TELEGRAM_MARKS = {"v1": r"[_*`\[]", "v2": r"[_*`\[\]()~|>#+=.!{}-]"}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_telegram_markdown(
    version: str, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NotifyTelegram, "notify_url", f"http://127.0.0.1:{receiver.port}/bot")
    monkeypatch.setattr(NotifyTelegram, "request_rate_per_sec", 0)
    receiver.default = Reply(body=b'{"ok": true, "result": {"message_id": 1}}')
    bot = "tgram://123456789:abcdefgh_0123456789ABCDEFGHIJKLMNOPQ/-1001234567890"
    messages = send_all(f"{bot}?format=markdown&mdv={version}")

    assert {m.format for m in messages} == {"telegram_markdown"}
    posted = [r for r in receiver.accepted() if r.path.endswith("/sendMessage")]
    assert len(posted) == len(HOSTILE)
    for i, (received, text) in enumerate(zip(posted, HOSTILE, strict=True)):
        assert received.payload["parse_mode"] == {"v1": "MARKDOWN", "v2": "MarkdownV2"}[version]
        body = received.payload["text"]
        shown = TELEGRAM_ESCAPES[version].sub(r"\1", body).replace(WJ, "")
        # The title (first) and the summary show the author's words, and only their backslashes.
        assert " ".join(shown.split()).startswith(f"[Watch] T{i} {literal(text)}"[:200])
        assert f"S{i} {literal(text)}"[:200] in " ".join(shown.split())
        no_added_backslash(shown, text)
        read = OWN_TELEGRAM_MARKUP.sub("", TELEGRAM_ESCAPES[version].sub(r"\1", body))
        assert not TELEGRAM_MENTION.search(read)
        # Every marker left unescaped is newswatch's own (fact labels, the alert's link).
        feed_part = OWN_TELEGRAM_MARKUP.sub("", TELEGRAM_ESCAPES[version].sub("", body))
        if version == "v2":
            feed_part = feed_part.replace(" ([open]", "")
        assert not re.findall(TELEGRAM_MARKS[version], feed_part), feed_part
        links = re.findall(r"\]\((https?://[^)\s]*)\)", body)
        assert links == ([text] if web_link(text) else [])


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
        assert WJ not in body + subject  # email shows an @ as written (nobody is mentioned)
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
