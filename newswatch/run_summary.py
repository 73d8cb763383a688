"""What a monitor run did, for its run history: a markdown summary and table rows.

Built either from a cycle's own report (one process) or from the shared database (a fanned
out cycle, whose shard runs ran elsewhere and could not hand their reports back). Channel
URLs never get here: only channel names and counts do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from newswatch.models import CycleFeed, CycleMatch, CycleReport

SLOWEST = 5  # feeds listed in the summary's "slowest feeds" section


@dataclass(frozen=True, slots=True)
class FeedLine:
    name: str
    url: str
    health: str
    ok: bool
    new_articles: int = 0
    matches: int = 0
    elapsed_s: float | None = None  # unknown when the poll ran on another machine
    pages_failed: int = 0  # article pages not read: matched on the feed's text alone
    page_problem: str = ""


@dataclass(frozen=True, slots=True)
class MatchLine:
    rule: str
    title: str
    outlet: str
    link: str | None
    published: datetime


@dataclass
class RunSummary:
    feeds: list[FeedLine] = field(default_factory=list)
    matches: list[MatchLine] = field(default_factory=list)
    new_articles: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    alerts_dead: int = 0
    alerts_pending: int = 0  # still in the outbox after the run: failed, held or not yet due
    failing_channels: list[str] = field(default_factory=list)  # names, never URLs
    dry_run: bool = False
    title: str = "newswatch monitor run"
    notes: list[str] = field(default_factory=list)  # shard outcomes, delivery problems

    @property
    def failed_feeds(self) -> list[FeedLine]:
        return [f for f in self.feeds if not f.ok]

    @property
    def pages_failed(self) -> int:
        return sum(f.pages_failed for f in self.feeds)

    def per_rule(self) -> list[tuple[str, int]]:
        """Matches per rule, most first (ties by rule id)."""
        counts = Counter(m.rule for m in self.matches)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def slowest(self, limit: int = SLOWEST) -> list[FeedLine]:
        timed = [f for f in self.feeds if f.elapsed_s is not None]
        return sorted(timed, key=lambda f: -(f.elapsed_s or 0.0))[:limit]


def from_cycle(report: CycleReport, *, title: str = "newswatch monitor run") -> RunSummary:
    """A summary of a cycle this process ran itself (dry runs included: nothing stored)."""
    matches = [
        MatchLine(
            rule=hit.rule_id,
            title=m.article.title,
            outlet=m.article.source or feed.name,
            link=m.article.url,
            published=m.article.published_at,
        )
        for feed in report.feeds
        for m in feed.matched
        for hit in m.hits
    ]
    return RunSummary(
        feeds=[
            FeedLine(
                f.name,
                f.url,
                f.health,
                f.ok,
                f.new_articles,
                f.matches,
                f.elapsed_s,
                f.pages_failed,
                f.page_problem,
            )
            for f in report.feeds
        ],
        matches=matches,
        new_articles=report.new_articles,
        alerts_sent=report.delivery.sent,
        alerts_failed=report.delivery.failed,
        alerts_dead=report.delivery.dead,
        alerts_pending=report.delivery.pending,
        failing_channels=list(report.delivery.failed_channels),
        dry_run=report.dry_run,
        title=title,
    )


def from_store(
    feeds: Sequence[CycleFeed],
    matches: Sequence[CycleMatch],
    *,
    timings: Mapping[str, float],
    alerts_sent: int = 0,
    alerts_failed: int = 0,
    alerts_dead: int = 0,
    alerts_pending: int = 0,
    failing_channels: Sequence[str] = (),
    dry_run: bool = False,
    title: str = "newswatch monitor run",
    notes: Iterable[str] = (),
) -> RunSummary:
    """A summary of a cycle that shard runs polled: what they wrote to the database, with
    the poll times they recorded (keyed by feed URL) where the parent could read them."""
    return RunSummary(
        feeds=[
            FeedLine(
                name=f.name,
                url=f.url,
                health=f.health,
                ok=f.ok,
                new_articles=f.new_articles,
                matches=f.matches,
                elapsed_s=timings.get(f.url, timings.get(f.config_url)),
            )
            for f in feeds
        ],
        matches=[MatchLine(m.rule_id, m.title, m.outlet, m.url, m.published_at) for m in matches],
        new_articles=sum(f.new_articles for f in feeds),
        alerts_sent=alerts_sent,
        alerts_failed=alerts_failed,
        alerts_dead=alerts_dead,
        alerts_pending=alerts_pending,
        failing_channels=list(failing_channels),
        dry_run=dry_run,
        title=title,
        notes=list(notes),
    )


def from_feed_rows(
    rows: Iterable[Mapping[str, Any]], *, title: str, notes: Iterable[str] = ()
) -> RunSummary:
    """A dry run's fanned-out summary: the shards stored nothing, only their feed tables
    (see `feed_rows`) say what they polled."""
    feeds = [
        FeedLine(
            name=str(row.get("feed", "")),
            url=str(row.get("url", "")),
            health=str(row.get("result", "")),
            ok=bool(row.get("ok", False)),
            new_articles=int(row.get("new") or 0),
            matches=int(row.get("matches") or 0),
            elapsed_s=float(row["seconds"]) if row.get("seconds") is not None else None,
            pages_failed=int(row.get("pages_failed") or 0),
            page_problem=str(row.get("page_problem") or ""),
        )
        for row in rows
    ]
    return RunSummary(
        feeds=feeds,
        new_articles=sum(f.new_articles for f in feeds),
        dry_run=True,
        title=title,
        notes=[*notes, "the shard runs' own artifacts list what they would have matched"],
    )


def _cell(text: object) -> str:
    """Table-safe text: a `|` or a line break in a title must not break the table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def summary_markdown(summary: RunSummary) -> str:
    """The run's markdown artifact: counts, matches per rule, the slowest and failed feeds."""
    lines = [
        f"# {summary.title}" + (" (dry run: nothing stored or sent)" if summary.dry_run else ""),
        "",
        f"- feeds polled: {len(summary.feeds)} ({len(summary.failed_feeds)} failed)",
        f"- new articles: {summary.new_articles}",
        f"- matches: {len(summary.matches)}",
        (
            f"- alerts sent: {summary.alerts_sent}, failed: {summary.alerts_failed}, "
            f"gave up: {summary.alerts_dead}, pending: {summary.alerts_pending}"
        ),
    ]
    if summary.failing_channels:
        lines.append(f"- alerts failed on: {_cell(', '.join(summary.failing_channels))}")
    if summary.pages_failed:
        lines.append(
            f"- article pages not read: {summary.pages_failed} "
            "(their articles were matched on the feed's text alone)"
        )
    if not summary.feeds:
        lines.append("- no feed was due: nothing polled")
    lines += [f"- {_cell(note)}" for note in summary.notes]
    lines += ["", "## Matches per rule", ""]
    per_rule = summary.per_rule()
    if per_rule:
        lines += ["| rule | matches |", "|---|---|"]
        lines += [f"| {_cell(rule)} | {count} |" for rule, count in per_rule]
    else:
        lines.append("No new matches.")
    lines += ["", f"## Slowest feeds (top {SLOWEST})", ""]
    slowest = summary.slowest()
    if slowest:
        lines += ["| feed | seconds | result |", "|---|---|---|"]
        lines += [
            f"| {_cell(f.name)} | {f.elapsed_s or 0.0:.2f} | {_cell(f.health)} |" for f in slowest
        ]
    else:
        lines.append("No poll times recorded.")
    if summary.failed_feeds:
        lines += ["", "## Feed problems", "", "| feed | url | problem |", "|---|---|---|"]
        lines += [
            f"| {_cell(f.name)} | {_cell(f.url)} | {_cell(f.health)} |"
            for f in summary.failed_feeds
        ]
    unread = [f for f in summary.feeds if f.pages_failed]
    if unread:
        lines += ["", "## Article pages not read", "", "| feed | pages | first problem |"]
        lines += ["|---|---|---|"]
        lines += [
            f"| {_cell(f.name)} | {f.pages_failed} | {_cell(f.page_problem)} |" for f in unread
        ]
    return "\n".join(lines)


def outcome_line(summary: RunSummary) -> str:
    """The run in one line, for its log."""
    if not summary.feeds:
        return "no feed was due: nothing polled"
    return (
        f"polled {len(summary.feeds)} feeds ({len(summary.failed_feeds)} failed), "
        f"{summary.new_articles} new articles, {len(summary.matches)} matches, "
        f"{summary.alerts_sent} alerts sent ({summary.alerts_failed} failed)"
    )


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """The run as one JSON object (`newswatch run --json`): the counts the markdown shows,
    then the matches and the polled feeds as their artifact tables list them."""
    return {
        "title": summary.title,
        "dry_run": summary.dry_run,
        "feeds_polled": len(summary.feeds),
        "feeds_failed": len(summary.failed_feeds),
        "new_articles": summary.new_articles,
        "matches": len(summary.matches),
        "alerts_sent": summary.alerts_sent,
        "alerts_failed": summary.alerts_failed,
        "alerts_dead": summary.alerts_dead,
        "alerts_pending": summary.alerts_pending,
        "failing_channels": list(summary.failing_channels),
        "pages_failed": summary.pages_failed,
        "matches_per_rule": dict(summary.per_rule()),
        "notes": list(summary.notes),
        "new_matches": match_rows(summary),
        "feeds": feed_rows(summary),
    }


def match_rows(summary: RunSummary) -> list[dict[str, str]]:
    """One row per new match for the table artifact, the link as a plain URL."""
    return [
        {
            "rule": m.rule,
            "title": m.title,
            "outlet": m.outlet,
            "link": m.link or "",
            "published": m.published.isoformat(timespec="minutes"),
        }
        for m in summary.matches
    ]


def feed_rows(summary: RunSummary) -> list[dict[str, Any]]:
    """One row per polled feed; a fanned-out parent reads these back for the poll times."""
    return [
        {
            "feed": f.name,
            "url": f.url,
            "ok": f.ok,
            "result": f.health,
            "new": f.new_articles,
            "matches": f.matches,
            "seconds": round(f.elapsed_s, 3) if f.elapsed_s is not None else None,
            "pages_failed": f.pages_failed,
            "page_problem": f.page_problem,
        }
        for f in summary.feeds
    ]


def timings_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Feed URL -> seconds, from feed rows of any shard (rows without a time are skipped)."""
    found: dict[str, float] = {}
    for row in rows:
        url, seconds = row.get("url"), row.get("seconds")
        if isinstance(url, str) and isinstance(seconds, int | float):
            found[url] = float(seconds)
    return found
