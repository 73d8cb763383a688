"""The compiled rule index is kept between monitor cycles while the rules stay the same."""

from __future__ import annotations

from sqlalchemy import Engine

from newswatch import store
from newswatch.config import Config, parse_config
from newswatch.matching import matcher_for
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
