"""Alerts and digests as text for each kind of channel: plain, Markdown, Slack, HTML, the
Markdown that Discord and Mattermost read in a text body, Teams' cards, and Telegram.

Article text is untrusted: every piece of it goes through newswatch.notify.escaping for its
target, so that a headline can neither inject markup into an email nor ping `<!channel>`
on Slack nor `@everyone` on Discord, and only an http(s) link becomes a link.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from typing import Final
from zoneinfo import ZoneInfo

from newswatch.models import Format, Message, PendingAlert
from newswatch.notify.escaping import escape, escape_title, visible, web_link

# Formats laid out as HTML, as Markdown (a link is [label](url)), or as text (the rest).
_HTML: Final = frozenset({"html", "telegram"})
_MARKDOWN: Final = frozenset({"markdown", "chat", "teams", "telegram_markdown"})
SUMMARY_CHARS = 600
PASSAGE_CHARS = 360  # the part of an article's page an alert quotes, around the matched words
PAGE_PASSAGE = "From the article's page:"
DATE_UNKNOWN = "date unknown"


def highlight(text: str, spans: Sequence[Sequence[int]], fmt: Format) -> str:
    """Escape `text` and mark the matched spans the way the target shows emphasis."""
    out: list[str] = []
    pos = 0
    for start, end in _merged(spans, len(text)):
        out.append(escape(text[pos:start], fmt))
        out.append(_emphasis(escape(text[start:end], fmt), fmt))
        pos = end
    out.append(escape(text[pos:], fmt))
    return "".join(out)


def _merged(spans: Sequence[Sequence[int]], limit: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        start, end = max(0, start), min(limit, end)
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _emphasis(text: str, fmt: Format) -> str:
    if fmt == "html":
        return f"<mark><b>{text}</b></mark>"
    if fmt == "telegram":
        return f"<b>{text}</b>"  # Telegram drops the tags it does not know (<mark>)
    if fmt in _MARKDOWN:
        return f"**{text}**"
    return f"*{text}*"  # text, and Slack: bold there when Slack formats it


def _link(label: str, url: str | None, fmt: Format) -> str:
    """The alert's own link: the only link a message has, and only an http(s) one; any
    other is shown as inert text beside the label."""
    link = web_link(url)
    if link is None:
        return label if not url else f"{label} ({escape(f'not a web link: {url}', fmt)})"
    if fmt in _HTML:
        return f'<a href="{html.escape(link, quote=True)}">{label}</a>'
    if fmt == "telegram_markdown":
        # Telegram's Markdown v1 allows no escape inside a link's label: a fixed one.
        return f"{label} ([open]({_markdown_destination(link)}))"
    if fmt == "teams":
        # Without escapes a "]" in the headline would end a label early: the URL is the label.
        shown = escape(link.replace("[", "%5B").replace("]", "%5D"), fmt)
        return f"{label} ([{shown}]({_markdown_destination(link)}))"
    if fmt in _MARKDOWN:
        return f"[{label}]({_markdown_destination(link)})"
    return f"{label}\n{link}"


def _markdown_destination(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def local_time(when: datetime, zone: str) -> str:
    return when.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def published_line(alert: PendingAlert, zone: str) -> str:
    """When the article was published; the fetch time stored for an undated entry is not
    that, so it is not shown as if it were."""
    return local_time(alert.published_at, zone) if alert.date_known else DATE_UNKNOWN


def _shorten(text: str, limit: int) -> tuple[str, int]:
    """The text cut at a word near `limit` (with its new length, for the spans)."""
    if len(text) <= limit:
        return text, len(text)
    cut = text.rfind(" ", 0, limit)
    cut = cut if cut > limit // 2 else limit
    return text[:cut].rstrip() + "…", cut


def passage(text: str, spans: Sequence[Sequence[int]], limit: int) -> tuple[str, list[list[int]]]:
    """The stretch of `text` (about `limit` characters, cut at words) that holds the most
    matched spans, with those spans moved into it: what the editor needs to see of a long
    page to know why it alerted."""
    merged = _merged(spans, len(text))
    if not merged:
        return "", []
    first = max(merged, key=lambda s: sum(1 for a, b in merged if a >= s[0] and b <= s[0] + limit))
    start = max(0, first[0] - limit // 4)
    paragraph = text.rfind("\n", 0, first[0]) + 1
    if paragraph >= start:
        start = paragraph
    elif (space := text.find(" ", start, first[0])) >= 0:
        start = space + 1
    end = min(len(text), start + limit)
    if end < len(text) and (space := text.rfind(" ", first[1], end)) > 0:
        end = space
    before = "…" if start > 0 and text[start - 1] != "\n" else ""
    after = "…" if end < len(text) else ""
    shift = len(before) - start
    moved = [[a + shift, b + shift] for a, b in merged if a >= start and b <= end]
    return before + text[start:end].replace("\n", " ") + after, moved


def matched_words(alerts: Sequence[PendingAlert]) -> list[str]:
    """The article's words that matched, each once, a list's name beside its words:
    "Britain (@uk)", "China", "visited"."""
    shown: dict[str, str] = {}  # a word, case-folded -> how it is shown
    for alert in alerts:
        for term in alert.terms:
            for word in alert.words.get(term) or [term]:
                shown.setdefault(word.casefold(), f"{word} ({term})" if term[0] == "@" else word)
    return list(shown.values())


def message_key(alerts: Sequence[PendingAlert]) -> str:
    """Stable across retries, unique across databases: the delivery ids, with a hash of
    when and where they were queued."""
    ids = sorted(a.delivery_id for a in alerts)
    basis = "|".join(f"{a.delivery_id}:{a.channel}:{a.created_at.isoformat()}" for a in alerts)
    digest = hashlib.sha256(basis.encode()).hexdigest()[:12]
    return f"newswatch.{'.'.join(map(str, ids[:8]))}.{digest}"


def _paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def render_alert(alerts: Sequence[PendingAlert], *, fmt: Format, zone: str) -> Message:
    """One article for one channel, with every rule it matched: what a reader needs to
    decide whether to click. An HTML message carries its plain rendering for the text part."""
    message = _render_alert(alerts, fmt=fmt, zone=zone)
    if fmt != "html":
        return message
    text = _render_alert(alerts, fmt="plain", zone=zone).body
    return Message(message.title, message.body, fmt, message.key, message.fields, text)


def _render_alert(alerts: Sequence[PendingAlert], *, fmt: Format, zone: str) -> Message:
    alerts = sorted(alerts, key=lambda a: (a.rule_name, a.rule_id))
    alert = alerts[0]
    rules = list(dict.fromkeys((a.rule_name, a.rule_id) for a in alerts))
    words = matched_words(alerts)
    spans = {
        f: [s for a in alerts for s in a.highlights.get(f, [])]
        for f in ("title", "summary", "body")
    }
    title_line = highlight(alert.article_title, spans["title"], fmt)
    summary, cut = _shorten(alert.article_summary, SUMMARY_CHARS)
    summary_spans = [s for s in spans["summary"] if s[1] <= cut]
    page_spans = spans["body"]
    if alert.article_body and alert.article_summary == alert.article_body:
        # a headline-only entry shows its page's opening: the page's spans are its spans
        summary_spans = [s for s in page_spans if s[1] <= cut]
        page_spans = [s for s in page_spans if s[0] >= cut]
    quoted, quoted_spans = passage(alert.article_body, page_spans, PASSAGE_CHARS)
    quote = highlight(quoted, quoted_spans, fmt) if quoted else ""
    published = published_line(alert, zone)
    facts = [
        ("Outlet", escape(alert.source, fmt)),
        ("Published", published),
        *([("Language", escape(alert.lang, fmt))] if alert.lang else []),
        (
            "Rule" if len(rules) == 1 else "Rules",
            escape("; ".join(f"{name} ({rule_id})" for name, rule_id in rules), fmt),
        ),
        ("Matched", escape(", ".join(words) or "-", fmt)),
    ]
    if alert.also_reported_by:
        facts.append(("Also reported by", escape(", ".join(alert.also_reported_by), fmt)))
    subject = escape_title(f"[{', '.join(name for name, _ in rules)}] {alert.article_title}", fmt)
    paragraphs = _paragraphs(highlight(summary, summary_spans, fmt)) if summary else []
    fields = {
        "rule": ", ".join(rule_id for _, rule_id in rules),
        "rule_name": ", ".join(name for name, _ in rules),
        "headline": visible(alert.article_title),
        "url": web_link(alert.article_url) or "",
        "outlet": visible(alert.source),
        "published": alert.published_at.isoformat() if alert.date_known else "",
        "matched": ", ".join(words),
        "also_reported_by": ", ".join(alert.also_reported_by),
    }
    key = message_key(alerts)
    if fmt in _HTML:
        rows = "".join(f"<tr><th align='left'>{k}</th><td>{v}</td></tr>" for k, v in facts)
        body = (
            f"<h2>{_link(title_line, alert.article_url, fmt)}</h2><table>{rows}</table>"
            + "".join(f"<p>{p}</p>" for p in paragraphs)
            + (f"<p><i>{PAGE_PASSAGE}</i></p><blockquote>{quote}</blockquote>" if quote else "")
        )
        return Message(subject, body, fmt, key, fields)
    if fmt in _MARKDOWN:
        lines = [_link(title_line, alert.article_url, fmt), ""]
        lines += [f"**{k}:** {v}" for k, v in facts]
        for paragraph in paragraphs:
            lines += ["", paragraph]
        if quote:
            lines += ["", PAGE_PASSAGE, f"> {quote}"]
        return Message(subject, "\n".join(lines), fmt, key, fields)
    link = web_link(alert.article_url)
    shown_link = link or (
        f"(not a web link: {escape(alert.article_url, fmt)})" if alert.article_url else "(none)"
    )
    lines = [title_line, "", f"Link: {shown_link}"]
    lines += [f"{k}: {v}" for k, v in facts]
    for paragraph in paragraphs:
        lines += ["", paragraph]
    if quote:
        lines += ["", PAGE_PASSAGE, f"  {quote}"]
    return Message(subject, "\n".join(lines), fmt, key, fields)


def render_digest(
    alerts: Sequence[PendingAlert], *, channel: str, fmt: Format, zone: str
) -> Message:
    """Every pending match of a digest channel in one message, grouped by rule, newest first."""
    ordered = sorted(alerts, key=lambda a: (a.rule_name, a.rule_id))
    subject = f"newswatch digest: {len(alerts)} new match{'es' if len(alerts) != 1 else ''}"
    parts: list[str] = []
    for (rule_name, rule_id), group in groupby(ordered, key=lambda a: (a.rule_name, a.rule_id)):
        items = sorted(group, key=lambda a: a.published_at, reverse=True)
        heading = escape(f"{rule_name} ({rule_id}): {len(items)}", fmt)
        entries = [
            (
                _link(
                    highlight(a.article_title, a.highlights.get("title", []), fmt),
                    a.article_url,
                    fmt,
                ),
                escape(f"{a.source}, {published_line(a, zone)}", fmt),
            )
            for a in items
        ]
        if fmt in _HTML:
            lis = "".join(f"<li>{link} <small>{meta}</small></li>" for link, meta in entries)
            parts.append(f"<h3>{heading}</h3><ul>{lis}</ul>")
        elif fmt in _MARKDOWN:
            parts.append(f"**{heading}**\n" + "\n".join(f"- {ln} ({m})" for ln, m in entries))
        else:
            parts.append(heading + "\n" + "\n".join(f"- {ln} ({m})" for ln, m in entries))
    separator = "" if fmt in _HTML else "\n\n"
    return Message(subject, separator.join(parts), fmt, key=message_key(alerts))
