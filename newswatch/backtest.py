"""Backtests: run one rule (or an ad-hoc query) over the articles already stored.

Nothing is sent unless asked: with `notify`, the hits become matches and outbox rows like a
live cycle's (a match that exists already is left alone, so no alert is sent twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from newswatch import store, timespec
from newswatch.config import Config
from newswatch.matching import Matcher, article_document
from newswatch.plan import prepare
from rules import RuleSpec, compile_rules


class BacktestError(ValueError):
    """A user mistake: unknown rule, bad query, bad time."""


def parse_when(text: str, *, now: datetime) -> datetime:
    """`7d`, `12h`, `30m`, `2w` before now, or an ISO date/time (UTC unless it says)."""
    try:
        return timespec.parse_when(text, now=now)
    except timespec.TimeSpecError as exc:
        raise BacktestError(str(exc)) from None


def window(since: str, until: str | None, *, now: datetime) -> tuple[datetime, datetime]:
    """The [since, until) a user gave as text; without `until`, up to and including now."""
    end = parse_when(until, now=now) if until else now + timedelta(seconds=1)
    return parse_when(since, now=now), end


@dataclass(frozen=True, slots=True)
class BacktestHit:
    article_id: int
    title: str
    url: str | None
    source: str
    published_at: datetime
    terms: list[str]


@dataclass
class BacktestReport:
    rule: str
    scanned: int
    hits: list[BacktestHit]
    matches_stored: int = 0
    alerts_queued: int = 0


def run_backtest(
    engine: Engine,
    config: Config,
    *,
    since: datetime,
    until: datetime,
    rule_id: str | None = None,
    query: str | None = None,
    notify: bool = False,
    now: datetime,
) -> BacktestReport:
    """Match stored articles published in [since, until) against one rule or query."""
    if (rule_id is None) == (query is None):
        raise BacktestError("give a rule id or a query (one of them)")
    if notify and rule_id is None:
        raise BacktestError("--notify needs a rule id from the config: a query has no channels")
    if rule_id is not None and rule_id not in {r.id for r in config.rules}:
        known = ", ".join(r.id for r in config.rules) or "none"
        raise BacktestError(f"no rule {rule_id!r} in the config (rules: {known})")
    spec = (
        next(RuleSpec(r.id, r.query) for r in config.rules if r.id == rule_id)
        if rule_id is not None
        else RuleSpec("query", query or "")
    )
    try:
        index = compile_rules(
            [spec], config.lists, default_language=config.monitor.default_language
        )
    except ValueError as exc:  # RuleErrors: the messages carry the column and a caret
        raise BacktestError(str(exc)) from None
    matcher = Matcher(config) if notify else None
    if notify:
        prepare(engine, config, now=now)
    report = BacktestReport(rule=spec.id, scanned=0, hits=[])
    with store.session_scope(engine) as session:
        for article in store.articles_between(session, since=since, until=until):
            report.scanned += 1
            hits = index.match(article_document(article))
            if not hits or article.id is None:
                continue
            report.hits.append(
                BacktestHit(
                    article_id=article.id,
                    title=article.title,
                    url=article.url,
                    source=article.source,
                    published_at=article.published_at,
                    terms=hits[0].matched_terms,
                )
            )
            if matcher is not None:
                added = store.store_matches(
                    session,
                    article_id=article.id,
                    matches=[matcher.to_store(h, article) for h in hits],
                    now=now,
                )
                report.matches_stored += added.matches
                report.alerts_queued += added.deliveries
    return report


def describe(report: BacktestReport) -> str:
    lines = [
        f"{hit.published_at:%Y-%m-%d %H:%M}  {hit.source:<20} {hit.title}  {hit.url or ''}"
        f"  [{', '.join(hit.terms)}]"
        for hit in report.hits
    ]
    lines.append(
        f"backtest {report.rule}: {len(report.hits)} matches in {report.scanned} stored articles"
        + (
            f"; {report.matches_stored} new matches stored, {report.alerts_queued} alerts queued"
            if report.matches_stored or report.alerts_queued
            else ""
        )
    )
    return "\n".join(lines)
