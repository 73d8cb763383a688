"""The indexed engine agrees with a straightforward per-rule evaluator on random rules/texts.

The reference (tests/support/rules_reference.py) walks the syntax tree over
:func:`rules.analyze.tokenize` output with no index, no pre-selection and no caching: slow and
obviously right, so the engine can be held to it.
"""

from __future__ import annotations

import random

import pytest

from rules import compile_rules
from tests.support.rules_reference import LISTS, analyse, evaluate, random_document, random_rules


@pytest.mark.parametrize("seed", range(4))
def test_index_agrees_with_reference(seed: int) -> None:
    rng = random.Random(seed)
    rules = random_rules(rng, 200)
    index = compile_rules([spec for spec, _ in rules], LISTS)
    docs = [random_document(rng) for _ in range(80)]
    matched_somewhere = 0
    for doc in docs:
        fields = analyse(doc)
        expected = [spec.id for spec, node in rules if evaluate(node, fields)]
        hits, candidates = index.match_with_stats(doc)
        assert [h.rule_id for h in hits] == expected, doc
        assert candidates >= len(hits)
        matched_somewhere += bool(hits)
        for hit in hits:  # a match always explains itself with at least one term
            assert hit.terms
    assert matched_somewhere > 15  # the random material does exercise matches


def test_index_agrees_with_reference_when_filed_using_a_sample() -> None:
    rng = random.Random(99)
    rules = random_rules(rng, 200)
    sample = [random_document(rng) for _ in range(50)]
    plain = compile_rules([spec for spec, _ in rules], LISTS)
    tuned = compile_rules([spec for spec, _ in rules], LISTS, sample=sample)
    for _ in range(80):
        doc = random_document(rng)
        fields = analyse(doc)
        expected = [spec.id for spec, node in rules if evaluate(node, fields)]
        assert [h.rule_id for h in tuned.match(doc)] == expected
        assert tuned.match(doc) == plain.match(doc)


def test_match_rule_skips_pre_selection_but_agrees() -> None:
    rng = random.Random(7)
    rules = random_rules(rng, 100)
    index = compile_rules([spec for spec, _ in rules], LISTS)
    for _ in range(40):
        doc = random_document(rng)
        hits = {h.rule_id: h for h in index.match(doc)}
        for spec, _ in rules:
            assert index.match_rule(spec.id, doc) == hits.get(spec.id)
