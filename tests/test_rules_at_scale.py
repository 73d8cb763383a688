"""What the engine does differently for a large index gives the same answers: a field's words
sorted by norm once many wildcards are looked up in it, a NEAR of two terms decided without
its pairs, positions looked up for the rules evaluated on them, hits explained when first
read."""

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
    # past a few wildcards looked up in one field, its words are sorted by norm
    # (rules.textview): each wildcard still finds every word starting with it
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


@pytest.mark.parametrize("near", ["NEAR/0", "NEAR/1", "NEAR/3", "ONEAR/1", "SENT"])
def test_a_near_of_two_terms_matches_as_its_general_form_does(near: str) -> None:
    # a NEAR of two terms is decided without building its pairs (rules.evaluate); one with
    # an OR operand takes the general way, and both say the same of every article
    texts = [
        "trade talks resumed. Later the talks on trade stalled",
        "talks about a new trade deal",
        "the trade minister. Talks",
        "talks talks trade",
        "no such words here",
    ]
    specs = [
        RuleSpec("fast", f"trade {near} talks"),
        RuleSpec("general", f"(trade OR zzzqx) {near} talks"),
        RuleSpec("fast-wild", f"trad* {near} talk"),
        RuleSpec("general-wild", f"(trad* OR zzzqx) {near} talk"),
    ]
    index = compile_rules(specs)
    for text in texts:
        found = {hit.rule_id for hit in index.match(body(text))}
        assert ("fast" in found) == ("general" in found), text
        assert ("fast-wild" in found) == ("general-wild" in found), text


def test_hits_decided_by_keys_are_explained_without_the_positions_looked_up() -> None:
    # only the rules evaluated on positions have theirs looked up before matching; a hit
    # the keys decided finds its terms' positions when read, the same ones
    specs = [RuleSpec("a", "trade AND talks"), RuleSpec("b", "trade NEAR/1 minister")]
    specs.append(RuleSpec("b2", "left NEAR/2 talks"))
    specs += [RuleSpec(f"c{n}", f"talks -zzz{n}") for n in range(3)]
    doc = body("Trade talks: the trade minister left the talks")
    hits = compile_rules(specs).match(doc)
    alone = [compile_rules([spec]).match(doc) for spec in specs]
    assert [hit.rule_id for hit in hits] == ["a", "b", "b2", "c0", "c1", "c2"]
    assert [hit.terms for hit in hits] == [found[0].terms for found in alone]
