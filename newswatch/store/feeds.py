"""Feed rows: the config's feeds, which are due, and what each poll did to them."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from newswatch.models import Feed, FeedOutcome, Rule
from newswatch.store.db import insert


def sync_feeds(session: Session, *, feeds: Iterable[tuple[str, str]]) -> None:
    """Make sure each (config URL, name) from the config has a row; names follow the config.

    A row is found by the config URL it came from (its polled `url` may have moved on after
    a 301/308). Failing that, a row whose polled URL is the config URL is adopted: the user
    updated the config to where the feed moved, or the row predates config URLs. A row still
    claimed by another entry of the config is never taken from it.
    """
    wanted = dict(feeds)
    rows = list(session.exec(select(Feed)).all())
    by_config = {r.config_url: r for r in rows if r.config_url}
    by_url = {r.url: r for r in rows}
    missing: list[dict[str, str]] = []
    for url, name in wanted.items():
        row = by_config.get(url)
        if row is None:
            row = by_url.get(url)
            if row is not None and row.config_url in wanted:
                continue  # the entry it moved from is still listed: both share that row
        if row is None:
            missing.append({"url": url, "config_url": url, "name": name, "health": "never polled"})
            continue
        if row.config_url != url or row.name != name:
            row.config_url, row.name = url, name
            session.add(row)
    session.flush()
    if missing:
        # DO NOTHING on any unique key: another process may sync the same config right now.
        session.execute(insert(session, Feed).values(missing).on_conflict_do_nothing())


def sync_rules(session: Session, *, rules: Iterable[tuple[str, str, str]], now: datetime) -> None:
    """Upsert (id, query, name) rows so matches keep pointing at a known rule.

    One statement run for all the rules: a statement per rule was a third of a cycle in
    which no feed had changed, at 1,000 rules.
    """
    rows = [{"id": i, "query": q, "name": n, "updated_at": now} for i, q, n in rules]
    if not rows:
        return
    table = Rule.metadata.tables["rule"]
    stmt = insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "query": stmt.excluded.query,
            "name": stmt.excluded.name,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    session.connection().execute(stmt, rows)


def due_feeds(
    session: Session,
    *,
    now: datetime,
    urls: Sequence[str] | None = None,
    due_only: bool = True,
) -> list[Feed]:
    """Feeds whose next poll time has come (all of them when not `due_only`);
    `urls` limits to the config's current feeds (by the config URL a row came from)."""
    stmt = select(Feed)
    if due_only:
        stmt = stmt.where(or_(col(Feed.next_poll_at).is_(None), col(Feed.next_poll_at) <= now))
    if urls is not None:
        stmt = stmt.where(col(Feed.config_url).in_(list(urls)))
    return list(session.exec(stmt.order_by(col(Feed.id))).all())


def list_feeds(session: Session) -> list[Feed]:
    return list(session.exec(select(Feed).order_by(col(Feed.id))).all())


def record_feed_outcomes(
    session: Session, *, outcomes: Sequence[tuple[int, FeedOutcome]], now: datetime
) -> None:
    """Write polls' results: one UPDATE run for all the rows, however many.

    A 304 carries no validators of its own, so a feed keeps what it had; a parsed body
    replaces the body hash and the RSS <ttl>. A feed that moved (301/308) takes its new URL
    unless another row already has it.
    """
    if not outcomes:
        return
    rows: list[dict[str, Any]] = []
    for feed_id, outcome in outcomes:
        good = outcome.ok
        rows.append(
            {
                "b_now": now,
                "b_id": feed_id,
                "b_ok": good,
                "b_last_status": outcome.status,
                "b_health": outcome.health,
                "b_next_poll_at": outcome.next_poll_at,
                "b_gone": outcome.gone,
                "b_last_error": outcome.error,
                "b_entries": outcome.entries if good else 0,
                "b_title": outcome.title if good and outcome.title else None,
                "b_set_validators": good
                and (outcome.etag is not None or outcome.last_modified is not None),
                "b_etag": outcome.etag,
                "b_last_modified": outcome.last_modified,
                "b_body_hash": outcome.body_hash if good else None,
                "b_ttl_minutes": outcome.ttl_minutes,
                "b_new_url": outcome.new_url,
            }
        )
    session.connection().execute(_outcomes_statement(), rows)


@functools.cache
def _outcomes_statement() -> Any:
    """The UPDATE of record_feed_outcomes, built once: building it took longer than running
    it for one feed."""
    table = Feed.metadata.tables["feed"]
    c = table.c

    def bound(name: str, column: Any) -> Any:
        return bindparam(f"b_{name}", type_=column.type)

    now = bound("now", c.last_polled_at)
    ok = bindparam("b_ok", type_=c.gone.type)
    set_validators = bindparam("b_set_validators", type_=c.gone.type)
    body_hash = bound("body_hash", c.body_hash)
    new_url = bound("new_url", c.url)
    other = aliased(table)
    url_taken = exists().where(and_(other.c.url == new_url, other.c.id != c.id))
    return (
        update(table)
        .where(c.id == bindparam("b_id", type_=c.id.type))
        .values(
            last_polled_at=now,
            last_status=bound("last_status", c.last_status),
            health=bound("health", c.health),
            next_poll_at=bound("next_poll_at", c.next_poll_at),
            gone=bound("gone", c.gone),
            consecutive_failures=case((ok, 0), else_=c.consecutive_failures + 1),
            last_success_at=case((ok, now), else_=c.last_success_at),
            last_error=case((ok, None), else_=bound("last_error", c.last_error)),
            entries_seen=c.entries_seen + bound("entries", c.entries_seen),
            title=func.coalesce(bound("title", c.title), c.title),
            etag=case((set_validators, bound("etag", c.etag)), else_=c.etag),
            last_modified=case(
                (set_validators, bound("last_modified", c.last_modified)), else_=c.last_modified
            ),
            body_hash=func.coalesce(body_hash, c.body_hash),
            ttl_minutes=case(
                (body_hash.is_not(None), bound("ttl_minutes", c.ttl_minutes)),
                else_=c.ttl_minutes,
            ),
            url=case((and_(new_url.is_not(None), ~url_taken), new_url), else_=c.url),
        )
    )


def forget_feed_validators(session: Session, *, feed_id: int) -> None:
    """Make the feed's next poll fetch and parse it in full, even when it is unchanged:
    some of its new entries were left for a later cycle (their article pages had no time)."""
    session.exec(
        update(Feed)
        .where(col(Feed.id) == feed_id)
        .values(etag=None, last_modified=None, body_hash=None)
    )
