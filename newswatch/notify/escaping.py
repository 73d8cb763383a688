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
# Every ASCII punctuation character that CommonMark (and Discord, Mattermost, Teams, Slack
# through Apprise) gives a meaning: a backslash makes it literal.
_COMMONMARK_SPECIALS: Final = re.compile(r"([\\`*_{}\[\]()<>#!|~&])")
# Slack: Apprise turns "&" into "&amp;" itself, and its converter keeps "\&" as it is.
_SLACK_SPECIALS: Final = re.compile(r"([\\`*_{}\[\]()<>#!|~])")
# A list item, a heading underline or a numbered item when it opens a line.
_LINE_START_MARKS: Final = re.compile(r"^(\s*)([-+=]|\d+(?=\.))", re.MULTILINE)
# A word joiner (U+2060) inside "@" and "://" stops a mention (@everyone, @channel, <@U1>)
# and a bare URL from being recognised, while the reader still sees them as written.
_DEFUSE: Final = str.maketrans({"@": "@\u2060"})
_JOINER: Final = "\u2060"
_SAFE_SCHEMES: Final = frozenset({"http", "https"})


def visible(text: str) -> str:
    """The text without the invisible characters that change how it reads."""
    return text.translate(_INVISIBLE)


def defused(text: str) -> str:
    """Mentions and bare URLs shown as written, recognised as neither."""
    return text.translate(_DEFUSE).replace("://", f":{_JOINER}//")


def escape(text: str, fmt: Format) -> str:
    """Feed text made literal in the target format."""
    text = visible(text)
    if fmt == "plain":
        return text
    if fmt == "html":
        # HTML has no mentions; a text URL stays text (a client's autolink shows its target).
        return html.escape(text, quote=True)
    text = defused(text)
    if fmt == "slack":
        # mrkdwn has no lists or headings, and Slack would show a backslash before "-".
        return _SLACK_SPECIALS.sub(r"\\\1", text)
    return _LINE_START_MARKS.sub(r"\1\\\2", _COMMONMARK_SPECIALS.sub(r"\\\1", text))


def escape_title(text: str, fmt: Format) -> str:
    """A message's title: Discord and Mattermost show it inside the Markdown body, Slack
    (through Apprise) escapes its own controls, other services show it as text."""
    if fmt == "chat":
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
