"""What a poll means for its feed: the outcome, the health line and when to poll next.

Pure policy, no I/O, so every rule is a unit test. Successes poll at the feed's own pace
(every scheduled run once the base interval has passed, slower when the publisher asks
through RSS <ttl> or Cache-Control max-age). Failures back off exponentially with jitter,
so a thousand feeds that broke together do not return together, but never past 24 hours:
Miniflux users ask for exactly this because feeds it gave up on stayed dead.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Final

from connectors import FeedParseError, FetchResult, format_size
from newswatch.models import FeedMeta, FeedOutcome, FeedTarget

MAX_DELAY_S: Final = 24 * 60 * 60.0  # the longest a feed ever waits: nothing is dropped for good
# A scheduled run polls a few seconds after its tick, never at the same offset twice: a feed
# whose interval ended exactly one schedule period after its last poll would be due just
# after the next tick and polled only every other one. So a plain interval ends a little
# early: a quarter of it, at most a minute (more than a run's start ever drifts).
TICK_SLACK: Final = 0.25
MAX_TICK_SLACK_S: Final = 60.0
JITTER: Final = 0.25  # failure delays are spread over the last quarter below the backoff
_RNG: Final = random.Random()


def next_poll_delay_s(
    *,
    result: FetchResult | None,
    consecutive_failures: int,
    base_interval_s: float,
    ttl_minutes: int | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next poll of a feed, given what the last poll produced.

    `consecutive_failures` counts the failure that just happened (0 after a success).
    `result` may be None when there was no fetch at all (for instance an internal error).
    """
    base = max(1.0, base_interval_s)
    ceiling = max(base, MAX_DELAY_S)
    retry_after = result.retry_after_s if result is not None else None
    if consecutive_failures <= 0:
        delay = base - min(base * TICK_SLACK, MAX_TICK_SLACK_S)
        if ttl_minutes is not None and ttl_minutes > 0:
            delay = max(delay, ttl_minutes * 60.0)
        if result is not None and result.max_age_s is not None:
            delay = max(delay, result.max_age_s)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, ceiling)

    generator = rng or _RNG
    if result is not None and result.status == 410:
        return ceiling  # gone: ask once a day in case it comes back, never more often
    exponent = min(consecutive_failures - 1, 32)  # 2**32 * base is far past the ceiling
    backoff = min(base * 2.0**exponent, ceiling)
    delay = backoff * (1.0 - JITTER * generator.random())
    delay = max(delay, base)
    if retry_after is not None:
        # The server said when (429/503 usually, but any status may send it): not earlier.
        delay = max(delay, retry_after)
    return min(delay, ceiling)


def describe_outcome(
    result: FetchResult | None,
    *,
    entries: int | None = None,
    new_entries: int | None = None,
    warning: str | None = None,
    parse_error: str | None = None,
) -> str:
    """The feed's health in one line, as the `feeds status` table shows it."""
    if result is None:
        return parse_error or "not fetched"
    if result.error is not None:
        text = result.error
        if result.status == 410:
            text += ": the feed is gone; checking again once a day"
        elif result.retry_after_s is not None:
            text += f" (server asks to wait {result.retry_after_s:g}s)"
        return text
    if result.not_modified:
        text = "304 not modified"
    else:
        size = format_size(len(result.body)) if result.body is not None else "no body"
        text = f"{result.status} OK, {size}"
    if result.permanent_redirect:
        text += f", moved permanently to {result.final_url}"
    if parse_error is not None:
        return f"{text}: {parse_error}"
    if entries is not None:
        text += f", {entries} {'entry' if entries == 1 else 'entries'}"
        if new_entries is not None:
            text += f" ({new_entries} new)"
    if warning:
        text += f" (parsed loosely: {warning})"
    return text


def needs_parse(result: FetchResult, target: FeedTarget) -> bool:
    """Whether the fetch brought a body that was not seen before (a 304, an error or the
    same bytes as last time end the feed's work here)."""
    if result.not_modified or not result.ok or result.body is None:
        return False
    return not (target.body_hash and result.body_sha256 == target.body_hash)


def feed_outcome(
    target: FeedTarget,
    result: FetchResult | None,
    *,
    now: datetime,
    base_interval_s: float,
    parsed: FeedMeta | None = None,
    parse_error: FeedParseError | None = None,
    new_entries: int | None = None,
    internal_error: str | None = None,
) -> FeedOutcome:
    """The feed's row after this poll, computed once, when everything about it is known.

    Successes poll at the feed's own pace: the base interval, slower when RSS <ttl> (kept
    across 304s), Cache-Control max-age or Retry-After ask. Failures back off exponentially
    with jitter, up to a day and never for good; Retry-After (429/503) is a floor; a 410
    marks the feed gone and asks again once a day. A 301/308 moves the feed to its new URL.
    """

    def next_poll(ok: bool, ttl: int | None = None) -> datetime:
        delay = next_poll_delay_s(
            result=result,
            consecutive_failures=0 if ok else target.consecutive_failures + 1,
            base_interval_s=base_interval_s,
            ttl_minutes=ttl,
        )
        return now + timedelta(seconds=delay)

    if internal_error is not None or result is None:
        error = internal_error or "not fetched"
        return FeedOutcome(
            status=None, ok=False, health=error, error=error, next_poll_at=next_poll(False)
        )
    new_url = result.final_url if result.permanent_redirect else None
    if result.not_modified:
        return FeedOutcome(
            status=result.status,
            ok=True,
            health=describe_outcome(result),
            next_poll_at=next_poll(True, target.ttl_minutes),
            new_url=new_url,
        )
    if result.error is not None or not result.ok or result.body is None:
        error = result.error or f"HTTP {result.status}"
        return FeedOutcome(
            status=result.status,
            ok=False,
            health=describe_outcome(result) if result.error else error,
            error=error,
            next_poll_at=next_poll(False),
            new_url=new_url,
            gone=result.status == 410,
        )
    if parse_error is not None:
        problem = str(parse_error)
        return FeedOutcome(
            status=result.status,
            ok=False,
            health=describe_outcome(result, parse_error=problem),
            error=problem,
            next_poll_at=next_poll(False),
            new_url=new_url,
        )
    if parsed is None:  # the same body as last time
        return FeedOutcome(
            status=result.status,
            ok=True,
            health=f"{describe_outcome(result)}, unchanged since the last poll",
            etag=result.etag,
            last_modified=result.last_modified,
            next_poll_at=next_poll(True, target.ttl_minutes),
            new_url=new_url,
        )
    return FeedOutcome(
        status=result.status,
        ok=True,
        health=describe_outcome(
            result, entries=parsed.entries, new_entries=new_entries, warning=parsed.warning
        ),
        title=parsed.title,
        etag=result.etag,
        last_modified=result.last_modified,
        body_hash=result.body_sha256,
        entries=parsed.entries,
        next_poll_at=next_poll(True, parsed.ttl_minutes),
        new_url=new_url,
        ttl_minutes=parsed.ttl_minutes,
    )
