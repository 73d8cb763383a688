"""What feed text may do in each target: nothing. The one place where it is made inert.

A feed is written by strangers and an alert lands where a desk works, so text from a feed
(headline, summary, outlet) never becomes a mention, a channel ping, a link, an image or
formatting in any target; only the alert's own link is a link, and only an http(s) one.
The table in docs/alerts.md ("What feed text can do") says the same per target.
"""

from __future__ import annotations

import html
import re
from typing import Final
from urllib.parse import urlsplit

from newswatch.models import Format

# Characters no reader sees that change what they see: bidirectional overrides and
# isolates (a headline that reads backwards), zero-width spaces and joiners used to hide
# words, the byte-order mark, and control characters other than tab and newline. ZWJ and
# ZWNJ (U+200C/U+200D) stay: Persian, Indic scripts and emoji need them.
_INVISIBLE: Final = {
    **{code: None for code in range(0x00, 0x20) if chr(code) not in "\t\n"},
    **{code: None for code in range(0x7F, 0xA0)},
    0x00AD: None,  # soft hyphen
    0x061C: None,  # Arabic letter mark
    0x180E: None,  # Mongolian vowel separator
    0x200B: None,
    0x200E: None,
    0x200F: None,
    **{code: None for code in range(0x202A, 0x202F)},
    **{code: None for code in range(0x2060, 0x2070)},
    0xFEFF: None,
    0x2028: "\n",
    0x2029: "\n",
}
# Every ASCII punctuation character that CommonMark (and Discord, Mattermost, Telegram
# through Apprise) gives a meaning: a backslash makes it literal.
_COMMONMARK_SPECIALS: Final = re.compile(r"([\\`*_{}\[\]()<>#!|~&])")
# A list item, a heading underline or a numbered item when it opens a line.
_LINE_START_MARKS: Final = re.compile(r"^(\s*)([-+=]|\d+(?=\.))", re.MULTILINE)
_JOINER: Final = "\u2060"
# A word joiner (U+2060) after "@" and inside "://" stops a mention (@everyone, @channel,
# <@U1>, a Telegram @username) and a bare URL from being recognised, while the reader still
# sees them as written.
_DEFUSE: Final = str.maketrans({"@": "@\u2060"})
# Slack's mrkdwn and Teams' cards have no backslash escapes: a backslash shows. A marker
# formats only at a word boundary (Slack: "*bold*" after a space, before a space or
# punctuation), so a word joiner on each side of it leaves it where no boundary is.
_MARKS: Final = re.compile(r"([*_~`])")
# Slack: a blockquote opens a line with ">", an emoji is ":name:".
_SLACK_LINE_START: Final = re.compile(r"^(\s*)(?=>)", re.MULTILINE)
_EMOJI_CODE: Final = re.compile(r":(?=[a-z0-9_+'-]+:)", re.IGNORECASE)
# Teams: a list, a heading or a quote at a line's start; a link needs "](" and a reference
# "]:" (a joiner after "]" breaks both); "<at>…</at>" is a mention (a joiner after "<").
_TEAMS_LINE_START: Final = re.compile(r"^(\s*)(?=[-+>#]|\d+[.)])", re.MULTILINE)
_TEAMS_JOINED: Final = str.maketrans({"]": "]\u2060", "<": "<\u2060"})
# Telegram's Markdown (v1, Apprise's default) honours only \_ \* \` \[ (a backslash before
# anything else shows): escape what Apprise's CommonMark reading would turn into markup.
_TELEGRAM_SPECIALS: Final = re.compile(r"([\\`*_\[<#])")
# Telegram: "/start" at a word's start is a bot command a reader sends with one tap.
_BOT_COMMAND: Final = re.compile(r"(?<!\S)/(?=[A-Za-z])")
_SAFE_SCHEMES: Final = frozenset({"http", "https"})


def visible(text: str) -> str:
    """The text without the invisible characters that change how it reads."""
    return text.translate(_INVISIBLE)


def defused(text: str) -> str:
    """Mentions and bare URLs shown as written, recognised as neither."""
    return text.translate(_DEFUSE).replace("://", f":{_JOINER}//")


def _inert_marks(text: str) -> str:
    return _MARKS.sub(f"{_JOINER}\\1{_JOINER}", text)


def _telegram(text: str) -> str:
    return _BOT_COMMAND.sub(f"/{_JOINER}", defused(text))


def _commonmark(text: str) -> str:
    return _LINE_START_MARKS.sub(r"\1\\\2", _COMMONMARK_SPECIALS.sub(r"\\\1", text))


def escape(text: str, fmt: Format) -> str:
    """Feed text made literal in the target format (the table in docs/alerts.md)."""
    text = visible(text)
    if fmt == "plain":
        return text
    if fmt == "html":
        # Email: HTML has no mentions; a text URL stays text (a client's autolink shows it).
        return html.escape(text, quote=True)
    if fmt == "telegram":
        # Telegram finds @usernames, URLs and /commands in the text whatever its parse mode.
        return html.escape(_telegram(text), quote=True)
    if fmt == "telegram_markdown":
        # Apprise reads CommonMark and writes Telegram's Markdown (v1, or v2 with ?mdv=v2).
        text = _TELEGRAM_SPECIALS.sub(r"\\\1", _telegram(text))
        return _LINE_START_MARKS.sub(r"\1\\\2", text)
    text = defused(text)
    if fmt == "slack":
        # Apprise, told "text", escapes & < > (Slack's only escapes) and asks for no mrkdwn.
        text = _SLACK_LINE_START.sub(f"\\1{_JOINER}", _EMOJI_CODE.sub(f":{_JOINER}", text))
        return _inert_marks(text)
    if fmt == "teams":
        text = _TEAMS_LINE_START.sub(f"\\1{_JOINER}", text.translate(_TEAMS_JOINED))
        return _inert_marks(text)
    return _commonmark(text)


def escape_title(text: str, fmt: Format) -> str:
    """A message's title. Discord and Mattermost show it inside the Markdown body, Telegram
    writes it into the body (HTML or Markdown), Teams shows it in a card's Markdown text
    block: each gets the body's escaping. Slack (through Apprise) escapes its own controls
    in a title, other services show it as text."""
    if fmt in ("chat", "teams", "telegram", "telegram_markdown"):
        return escape(text, fmt)
    text = visible(text)
    return text if fmt in ("plain", "html") else defused(text)


def web_link(url: str | None) -> str | None:
    """The URL when it may be a link: http or https with a host, and nothing a client could
    read another way (spaces, quotes, angle brackets, control characters)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.hostname:
        return None
    if any(c.isspace() or c in "\"'<>`\\" or not c.isprintable() for c in url):
        return None
    return url
