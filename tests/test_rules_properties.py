"""Property tests (hypothesis): the parser never crashes; the index agrees with the reference.

Skipped where hypothesis is not installed; tests/test_rules_reference.py and
tests/test_rules_query.py run the same properties on seeded random input everywhere.
"""

from __future__ import annotations

import random

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rules import Document, RuleSpec, compile_rules  # noqa: E402
from rules.query import parse  # noqa: E402
from rules.syntax import And, Near, Not, Or, QuerySyntaxError, Term  # noqa: E402
from tests.support.rules_reference import (  # noqa: E402
    LISTS,
    analyse,
    evaluate,
    parse_or_error,
    random_document,
    random_query,
)

QUERY_ALPHABET = st.sampled_from(
    [
        "UK",
        "China",
        "visit",
        " AND ",
        " OR ",
        "NOT ",
        " NEAR/3 ",
        "ONEAR/",
        "(",
        ")",
        '"',
        "!",
        "-",
        "*",
        "@uk",
        "@",
        "title:",
        "x:",
        " ",
        "中",
        "é",
        "'",
        ".",
        "/",
        ":",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(QUERY_ALPHABET, max_size=12).map("".join)))
def test_parser_returns_a_tree_or_a_located_error(query: str) -> None:
    result = parse_or_error(query, LISTS)
    if isinstance(result, QuerySyntaxError):
        assert 1 <= result.column <= len(query) + 1
        assert result.render()
    else:
        assert isinstance(result, Term | And | Or | Not | Near)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_index_agrees_with_reference(seed: int) -> None:
    rng = random.Random(seed)
    specs: list[RuleSpec] = []
    nodes = []
    while len(specs) < 25:
        query = random_query(rng)
        try:
            nodes.append(parse(query, lists=LISTS))
        except QuerySyntaxError:
            continue
        specs.append(RuleSpec(f"r{len(specs):03d}", query))
    index = compile_rules(specs, LISTS)
    for _ in range(10):
        doc: Document = random_document(rng)
        fields = analyse(doc)
        expected = [
            spec.id for spec, node in zip(specs, nodes, strict=True) if evaluate(node, fields)
        ]
        assert [hit.rule_id for hit in index.match(doc)] == expected
