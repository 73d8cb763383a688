"""The polling policy: TTL, max-age, Retry-After, backoff with jitter, the 24-hour ceiling."""

from __future__ import annotations

import random
from types import MappingProxyType

import pytest

from connectors.http import FetchResult
from newswatch.refresh import MAX_DELAY_S, describe_outcome, next_poll_delay_s

BASE = 300.0
PLAIN = BASE - 60.0  # the plain interval ends a minute early: the next tick finds it due


def result(
    status: int | None = 200,
    *,
    error: str | None = None,
    retry_after_s: float | None = None,
    max_age_s: float | None = None,
    body: bytes | None = b"<rss/>",
    permanent_redirect: bool = False,
) -> FetchResult:
    return FetchResult(
        url="http://feeds.example/a",
        final_url="http://feeds.example/b" if permanent_redirect else "http://feeds.example/a",
        status=status,
        body=body if error is None and status != 304 else None,
        headers=MappingProxyType({}),
        etag=None,
        last_modified=None,
        body_sha256=None,
        permanent_redirect=permanent_redirect,
        retry_after_s=retry_after_s,
        max_age_s=max_age_s,
        error=error,
        elapsed_s=0.1,
    )


def delay(res: FetchResult | None, failures: int, seed: int = 1, **kw: int | None) -> float:
    return next_poll_delay_s(
        result=res,
        consecutive_failures=failures,
        base_interval_s=BASE,
        rng=random.Random(seed),
        ttl_minutes=kw.get("ttl_minutes"),
    )


def test_success_polls_at_the_base_interval() -> None:
    assert delay(result(), 0) == PLAIN
    assert delay(result(304), 0) == PLAIN


@pytest.mark.parametrize(("base", "early"), [(60.0, 15.0), (300.0, 60.0), (3600.0, 60.0)])
def test_a_plain_interval_ends_early_by_a_quarter_at_most_a_minute(
    base: float, early: float
) -> None:
    assert next_poll_delay_s(result=result(), consecutive_failures=0, base_interval_s=base) == (
        base - early
    )


def test_rss_ttl_slows_polling_but_never_speeds_it_up() -> None:
    assert delay(result(), 0, ttl_minutes=60) == 3600.0
    assert delay(result(), 0, ttl_minutes=1) == PLAIN


def test_cache_control_max_age_is_honoured() -> None:
    assert delay(result(max_age_s=1800), 0) == 1800.0
    assert delay(result(max_age_s=10), 0) == PLAIN


def test_success_delays_are_capped_at_a_day() -> None:
    assert delay(result(max_age_s=365 * 86400), 0) == MAX_DELAY_S
    assert delay(result(), 0, ttl_minutes=10_000) == MAX_DELAY_S


def test_429_retry_after_is_honoured() -> None:
    assert delay(result(429, error="HTTP 429 Too Many Requests", retry_after_s=7200), 1) == 7200
    # a short Retry-After never makes us poll faster than the base interval
    assert delay(result(503, error="HTTP 503", retry_after_s=5), 1) >= BASE


def test_retry_after_longer_than_a_day_is_capped() -> None:
    assert delay(result(429, error="HTTP 429", retry_after_s=10 * 86400), 1) == MAX_DELAY_S


def test_failures_back_off_exponentially_with_jitter() -> None:
    failed = result(500, error="HTTP 500 Internal Server Error")
    delays = [delay(failed, n) for n in range(1, 9)]
    for n, d in enumerate(delays, start=1):
        nominal = min(BASE * 2 ** (n - 1), MAX_DELAY_S)
        assert max(BASE, nominal * 0.75) <= d <= nominal
    assert delays[-1] > 16 * delays[0]


def test_jitter_spreads_feeds_that_failed_together() -> None:
    failed = result(None, error="connection failed: refused")
    spread = {delay(failed, 5, seed=s) for s in range(20)}
    assert len(spread) > 10


@pytest.mark.parametrize("failures", [20, 1_000, 10**9])
def test_never_disabled_for_good(failures: int) -> None:
    d = delay(result(None, error="timed out after 60s (total deadline)"), failures)
    assert BASE <= d <= MAX_DELAY_S


def test_gone_is_checked_daily() -> None:
    assert delay(result(410, error="HTTP 410 Gone"), 1) == MAX_DELAY_S


def test_no_result_backs_off_too() -> None:
    assert BASE <= delay(None, 3) <= 4 * BASE


def test_describe_outcome_lines() -> None:
    assert describe_outcome(result(304)) == "304 not modified"
    assert (
        describe_outcome(result(), entries=25, new_entries=3)
        == "200 OK, 6 bytes, 25 entries (3 new)"
    )
    assert (
        describe_outcome(result(410, error="HTTP 410 Gone"))
        == "HTTP 410 Gone: the feed is gone; checking again once a day"
    )
    assert (
        describe_outcome(result(429, error="HTTP 429 Too Many Requests", retry_after_s=120))
        == "HTTP 429 Too Many Requests (server asks to wait 120s)"
    )
    assert (
        describe_outcome(result(), parse_error="not a feed (an HTML page)")
        == "200 OK, 6 bytes: not a feed (an HTML page)"
    )
    assert describe_outcome(result(permanent_redirect=True), entries=1).startswith(
        "200 OK, 6 bytes, moved permanently to http://feeds.example/b"
    )
    assert (
        describe_outcome(result(), entries=1, new_entries=1) == "200 OK, 6 bytes, 1 entry (1 new)"
    )
    assert describe_outcome(result(), entries=2, warning="undefined entity").endswith(
        "(parsed loosely: undefined entity)"
    )
