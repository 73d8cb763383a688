"""The compiled rule index is kept between monitor cycles while the rules stay the same: in
memory within a process, and beside a SQLite database for the next process (Prefect runs each
flow run in a process of its own)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from newswatch import matching, store
from newswatch.config import Config, parse_config
from newswatch.matching import INDEX_FILE, IndexCache, index_folder, matcher_for
from rules import Document

CONFIG = """
lists:
  uk: [UK, Britain]
rules:
  - id: uk-china-visit
    query: '@uk AND China AND visit'
"""

VISIT = Document(title="Lammy visits Beijing", body="Britain and China plan a visit.")


def _config(text: str) -> Config:
    return parse_config(text, name="newswatch.yaml", environ={})


def test_a_cycle_with_unchanged_rules_reuses_the_index_it_matched_with(engine: Engine) -> None:
    store.migrate(engine)
    first = matcher_for(engine, _config(CONFIG))
    second = matcher_for(engine, _config(CONFIG))  # the next cycle reads the file again
    assert second.index is first.index
    assert [hit.rule_id for hit in second.index.match(VISIT)] == ["uk-china-visit"]


def test_a_changed_rule_or_list_builds_an_index_that_matches_the_change(engine: Engine) -> None:
    store.migrate(engine)
    first = matcher_for(engine, _config(CONFIG))
    changed_query = matcher_for(engine, _config(CONFIG.replace("visit'", "summit'")))
    assert changed_query.index is not first.index
    assert changed_query.index.match(VISIT) == []
    changed_list = matcher_for(engine, _config(CONFIG.replace("[UK, Britain]", "[UK]")))
    assert changed_list.index is not changed_query.index
    assert changed_list.index.match(Document(body="Britain and China plan a visit.")) == []


def _no_build(*args: object, **kwargs: object) -> None:
    raise AssertionError("the index was built again")


def _sqlite_folder(tmp_path: Path) -> Path:
    """A SQLite database's folder, as matcher_for finds it from the engine."""
    engine = store.make_engine(f"sqlite:///{tmp_path / 'newswatch.db'}")
    store.migrate(engine)
    folder = index_folder(engine)
    engine.dispose()
    assert folder == tmp_path
    return folder


def test_the_next_process_reads_the_index_beside_a_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _sqlite_folder(tmp_path)
    config = _config(CONFIG)
    IndexCache().index_for(config, list, folder=folder)  # the first process builds it
    assert (folder / INDEX_FILE).is_file()
    monkeypatch.setattr(matching, "compile_rules", _no_build)
    index = IndexCache().index_for(config, list, folder=folder)  # a new process: no build
    assert [hit.rule_id for hit in index.match(VISIT)] == ["uk-china-visit"]


def test_a_stale_or_damaged_index_file_is_built_anew(tmp_path: Path) -> None:
    folder = _sqlite_folder(tmp_path)
    IndexCache().index_for(_config(CONFIG), list, folder=folder)
    changed = _config(CONFIG.replace("visit'", "summit'"))
    index = IndexCache().index_for(changed, list, folder=folder)  # other rules: not reused
    assert index.match(VISIT) == []
    path = folder / INDEX_FILE
    path.write_bytes(path.read_bytes()[:200])  # cut short, as by a full disk
    index = IndexCache().index_for(changed, list, folder=folder)
    assert index.match(Document(body="UK and China at a summit")) != []
