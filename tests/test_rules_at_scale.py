"""What the engine does differently for a large index gives the same answers: a field's words
grouped by key once many wildcards are looked up in it, hits explained when first read."""

from __future__ import annotations

import pickle

import pytest

from rules import Document, RuleSpec, TermHit, compile_rules
from rules.analyze import tokenize


def body(text: str) -> Document:
    return Document(body=text)


@pytest.mark.parametrize(
    "text",
    [
        "The U.K.-based visitors' re-visit (Visits) of visa holders, visiting again",
        "  Visit with  two spaces\nand a visit",
        "Visïtors visit",
    ],
)
def test_wildcard_positions_stay_exact_when_a_field_has_many_wildcards(text: str) -> None:
    # past a few wildcards looked up in one field, its words are grouped by their first
    # letters (rules.textview): each wildcard still finds every word starting with it
    text += " " + " ".join(f"alpha{n}" for n in range(20)) + " visitation"
    prefixes = [f"alpha{n}" for n in range(20)] + ["visit", "visito", "vis", "alp", "visas"]
    specs = [RuleSpec(f"r{n:02d}", f"{prefix}*") for n, prefix in enumerate(prefixes)]
    hits = {hit.rule_id: hit for hit in compile_rules(specs).match(body(text))}
    for spec, prefix in zip(specs, prefixes, strict=True):
        expected = tuple(t.position for t in tokenize(text) if t.norm.startswith(prefix))
        hit = hits.get(spec.id)
        found = [term.positions for term in hit.terms] if hit else []
        assert found == ([expected] if expected else []), spec


def test_a_hit_read_later_or_in_another_process_has_the_same_terms() -> None:
    # a hit's terms are worked out when first read, from the article it hit
    index = compile_rules([RuleSpec("a", "UK AND visit"), RuleSpec("b", "UK NEAR/2 visit*")])
    first = index.match(Document(title="UK envoy visits", body="A visit to the UK."))
    index.match(Document(title="UK visit", body="Another article, other words: UK visit."))
    sent = pickle.loads(pickle.dumps(first))  # noqa: S301 - our own bytes
    expected = [
        (
            TermHit("UK", "title", (0,), ((0, 2),)),
            TermHit("UK", "body", (4,), ((15, 17),)),
            TermHit("visit", "title", (2,), ((9, 15),)),
            TermHit("visit", "body", (1,), ((2, 7),)),
        ),
        (
            TermHit("UK", "title", (0,), ((0, 2),)),
            TermHit("UK", "body", (4,), ((15, 17),)),
            TermHit("visit*", "title", (2,), ((9, 15),)),
            TermHit("visit*", "body", (1,), ((2, 7),)),
        ),
    ]
    assert [hit.terms for hit in sent] == expected
    assert [hit.terms for hit in first] == expected
    assert sent == first
    assert {hash(hit) for hit in sent} == {hash(hit) for hit in first}
