"""The outbox's own rules, seen through the in-memory Notifier newswatch ships for tests:
what only a misbehaving service could show (an error that repeats a secret) and the order
alerts leave in once a failing channel recovers."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.notify import InMemoryNotifier, deliver
from tests.support.alerts_data import NOW, make_config, seed

PASSWORD = "hunter2-very-secret"  # noqa: S105 (a fake credential that must never show)
CHANNEL = f"url: 'json://alerts:{PASSWORD}@127.0.0.1:9/hook'"


def test_an_error_that_repeats_the_password_is_stored_logged_and_reported_without_it(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, {"hook": CHANNEL})
    seed(engine, config, ["UK minister to visit China"])
    notifier = InMemoryNotifier(failing={"hook"}, error=f"login alerts:{PASSWORD} refused")
    caplog.set_level(logging.WARNING, logger="newswatch")

    report = deliver(engine, config, environ={}, now=NOW, notifier=notifier)

    assert (report.sent, report.failed, report.pending) == (0, 1, 1)
    assert PASSWORD not in " ".join(report.errors)
    (warning,) = [r for r in caplog.records if r.name.startswith("newswatch")]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == (
        "alert to channel 'hook' failed (attempt 1 of 8, next try 2024-10-18T12:00:45+00:00): "
        "login ***:*** refused"
    )
    with Session(engine) as session:
        (delivery,) = store.deliveries(session)
    assert delivery.status == "pending"
    assert delivery.last_error is not None
    assert "refused" in delivery.last_error
    assert PASSWORD not in delivery.last_error


def test_a_recovered_channel_gets_its_queue_in_the_order_the_stories_came(
    engine: Engine, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"hook": CHANNEL})
    titles = [f"UK minister to visit China, part {i}" for i in range(3)]
    seed(engine, config, titles)
    notifier = InMemoryNotifier(failing={"hook"})

    down = deliver(engine, config, environ={}, now=NOW, notifier=notifier)
    notifier.failing.clear()
    too_soon = deliver(
        engine, config, environ={}, now=NOW + timedelta(seconds=30), notifier=notifier
    )
    back = deliver(engine, config, environ={}, now=NOW + timedelta(minutes=2), notifier=notifier)

    assert (down.failed, down.sent) == (1, 0)  # one attempt for the whole queue, not three
    assert too_soon.sent == 0  # the queue waits for the retry time
    assert back.sent == 3
    assert [m.title for _, m in notifier.sent] == [f"[UK-China visits] {t}" for t in titles]
