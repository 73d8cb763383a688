"""The prune flow through Prefect (what the nightly `prune/prune` deployment runs)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flows.prune import prune
from newswatch import store
from newswatch.models import utcnow
from tests.support.aged_store import fill, stored_keys

pytestmark = pytest.mark.prefect


def test_the_prune_flow_removes_old_unmatched_articles_and_keeps_matched_ones(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite:///{tmp_path / 'nw.db'}"
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", database_url)
    engine = store.make_engine(database_url)
    store.migrate(engine)
    fill(engine, utcnow())

    report = prune(older_than="90d")

    assert report.articles == 2
    assert report.before < utcnow() - timedelta(days=89)
    assert stored_keys(engine) == {"old-visit", "recent-fair"}
    engine.dispose()
