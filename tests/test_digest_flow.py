"""The digest flow through Prefect, with the channel URL kept in a Prefect Secret block."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.blocks.system import Secret
from sqlmodel import Session

from flows.digest import digest
from newswatch import store
from tests.support.alerts_data import LAMMY, make_config, seed
from tests.support.webhook import WebhookReceiver, running_receiver

pytestmark = pytest.mark.prefect


def test_digest_flow_reads_the_channel_url_from_a_secret_block(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite:///{tmp_path / 'nw.db'}"
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", database_url)
    receiver: WebhookReceiver
    with running_receiver() as receiver:
        Secret(value=receiver.json_url("/digest")).save("desk-digest-url", overwrite=True)
        config = make_config(tmp_path, {"daily": "secret_block: desk-digest-url\nmode: digest"})
        engine = store.make_engine(database_url)
        store.migrate(engine)
        seed(engine, config, [LAMMY, "UK minister to visit China in spring"])

        first = digest(config_path=str(tmp_path / "newswatch.yaml"), force=True)
        second = digest(config_path=str(tmp_path / "newswatch.yaml"), force=True)

        assert first.sent == {"daily": 2}
        assert second.sent == {}  # each match is in exactly one digest
        (message,) = receiver.accepted()
        assert message.path == "/digest"
        assert message.payload["title"] == "newswatch digest: 2 new matches"
        with Session(engine) as s:
            assert {d.status for d in store.deliveries(s)} == {"sent"}
        engine.dispose()
