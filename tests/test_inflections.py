"""A plain term matches its inflections, never a derived word; a capitalised term is a name.

tests/data/english_word_pairs.tsv holds over 400 labelled English pairs: irregular verbs from
the standard list of English irregular verbs, regular verbs, noun plurals, possessives and
adjective degrees that must match, and derived or unrelated words that must not (a
suffix-stripping stemmer joined many of them: execute/executive, marine/mariner), nor words
another language's dictionary keys alike (Dutch loot -> lot) or the dictionary applied twice
(founding -> found -> find). The articles have no language, so they read as English.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import Document, RuleSpec, compile_rules

PAIRS = Path(__file__).parent / "data" / "english_word_pairs.tsv"


def _pairs() -> list[tuple[str, str, bool, str]]:
    rows = []
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            query, word, expected, kind = line.split("\t")
            rows.append((query, word, expected == "match", kind))
    return rows


def _matches(query: str, text: str, lang: str | None = None) -> bool:
    index = compile_rules([RuleSpec("r", query)], {})
    return bool(index.match(Document(title=text, lang=lang)))


def test_word_pairs_precision_and_recall() -> None:
    pairs = _pairs()
    assert len(pairs) >= 300
    index = compile_rules(
        [RuleSpec(query, query) for query in dict.fromkeys(q for q, _, _, _ in pairs)], {}
    )
    true_pos = false_pos = false_neg = 0
    misses: list[str] = []
    for query, word, expected, kind in pairs:
        fired = any(hit.rule_id == query for hit in index.match(Document(title=word)))
        true_pos += fired and expected
        false_pos += fired and not expected
        false_neg += expected and not fired
        if fired != expected:
            misses.append(f"{query}/{word} ({kind})")
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    print(f"word pairs: {len(pairs)}, precision {precision:.3f}, recall {recall:.3f}")
    print("wrong:", ", ".join(misses))
    # no derived, unrelated or other-language word joins; the inflections missed are
    # homographs the dictionary lists as words of their own (felt, left, thought, people)
    assert precision == 1.0, misses
    assert recall >= 0.916, misses


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("execute", "The executive resigned"),
        ("marine", "A mariner was rescued"),
        ("organ", "The organization said"),
        ("university", "A universe of options"),
        ("minister", "The ministry said"),
        ("better", "A good result"),  # suppletive forms are not joined (better -> good)
    ],
)
def test_a_derived_word_does_not_match(query: str, text: str) -> None:
    assert not _matches(query, text)


@pytest.mark.parametrize(
    "text",
    [
        "Leaders visit Beijing",
        "The minister visits Beijing",
        "Lammy visited Beijing",
        "Visiting Beijing, Lammy said",
        "The visit's timing",
    ],
)
def test_visit_matches_the_inflections_the_readme_promises(text: str) -> None:
    assert _matches("visit", text)


def test_the_issue_example_no_longer_alerts() -> None:
    """`German AND France` alerted on this headline with the Snowball stemmer."""
    headline = "Actress Frances McDormand opens Germanic studies summit"
    assert not _matches("German AND France", headline)
    assert _matches("German AND France", "Germans and France's leaders meet")


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("German", "A German minister", True),
        ("German", "The German's speech", True),
        ("German", "Germans vote", True),
        ("German", "Germanic studies", False),
        ("France", "France's president", True),
        ("France", "Paid in francs", False),
        ("France", "Actress Frances McDormand", False),
        ("Lammy", "Lammy's visit", True),
        ("Lammy", "Lammy visited", True),
        ("Found", "The finding was", False),  # a name is never a stem-changing inflection
        ("found", "The report finds", True),  # the same word in lower case is a verb
        ("!US", "US troops", True),
        ("!US", "Join us", False),
    ],
)
def test_a_capitalised_term_is_a_name(query: str, text: str, expected: bool) -> None:
    assert _matches(query, text) is expected
