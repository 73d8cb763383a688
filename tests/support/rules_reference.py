"""A straightforward per-rule evaluator, and random rules and texts to hold the engine to it.

The reference walks the syntax tree over :func:`rules.analyze.tokenize` output with no index,
no pre-selection and no caching: slow and obviously right.
"""

from __future__ import annotations

import random

from rules import Document, RuleSpec
from rules.analyze import Token, fold, tokenize, untag
from rules.query import parse
from rules.syntax import FIELDS, And, Near, Node, Not, Or, QuerySyntaxError, Term

Intervals = dict[str, list[tuple[int, int]]]


def _element_matches(token: Token, mode: str, value: str) -> bool:
    if mode == "stem":
        return token.stem == value
    if mode == "prefix":
        return token.norm.startswith(value)
    form = token.norm if mode == "norm" else token.exact
    return form == fold(untag(value)[1])


def _term(term: Term, fields: dict[str, list[Token]]) -> Intervals:
    found: Intervals = {}
    for name in FIELDS:
        if name not in term.fields:
            continue
        tokens = fields[name]
        spots: set[tuple[int, int]] = set()
        for pattern in term.patterns:
            for start in range(len(tokens) - len(pattern) + 1):
                if all(
                    _element_matches(tokens[start + i], mode, value)
                    for i, (mode, value) in enumerate(pattern)
                ):
                    spots.add((start, start + len(pattern) - 1))
        if spots:
            found[name] = sorted(spots)
    return found


def _positional(node: Node, fields: dict[str, list[Token]]) -> Intervals:
    if isinstance(node, Term):
        return _term(node, fields)
    if isinstance(node, Or):
        merged: Intervals = {}
        for child in node.children:
            for name, spots in _positional(child, fields).items():
                merged.setdefault(name, []).extend(spots)
        return merged
    assert isinstance(node, Near)
    left = _positional(node.left, fields)
    right = _positional(node.right, fields)
    result: Intervals = {}
    for name in left.keys() & right.keys():
        pairs = []
        for a_first, a_last in left[name]:
            for b_first, b_last in right[name]:
                if a_last < b_first:
                    gap = b_first - a_last - 1
                elif b_last < a_first and not node.ordered:
                    gap = a_first - b_last - 1
                else:
                    continue
                if gap <= node.distance:
                    pairs.append((min(a_first, b_first), max(a_last, b_last)))
        if pairs:
            result[name] = pairs
    return result


def analyse(doc: Document) -> dict[str, list[Token]]:
    return {name: tokenize(getattr(doc, name)) for name in FIELDS}


def evaluate(node: Node, fields: dict[str, list[Token]]) -> bool:
    """Does the rule match the article (analysed by :func:`analyse`)? From the tree alone."""
    return _truth(node, fields)


def _truth(node: Node, fields: dict[str, list[Token]]) -> bool:
    if isinstance(node, And):
        return all(_truth(c, fields) for c in node.children)
    if isinstance(node, Or):
        return any(_truth(c, fields) for c in node.children)
    if isinstance(node, Not):
        return not _truth(node.child, fields)
    return bool(_positional(node, fields))


# --------------------------------------------------------------------------- random material

VOCABULARY = [
    "UK", "U.K.", "uk", "China", "China's", "Indochina", "visit", "visits", "visited",
    "visitor", "Beijing", "Québec", "Quebec", "US", "us", "U.S.", "British", "Britain",
    "Britons", "United", "Kingdom", "talks", "minister", "ukulele", "Japan", "trade",
]  # fmt: skip
QUERY_WORDS = [
    "UK", "China", "visit", "Beijing", "Quebec", "US", "talks", "minister", "Japan", "trade",
    "Britain", "!US", "!UK", "brit*", "visit*", "bri*", "chin*", '"United Kingdom"', '"UK China"',
    '"visits Beijing"', "UK-China", "@uk",
]  # fmt: skip
LISTS = {"uk": ["UK", "Britain", "United Kingdom"]}


def random_text(rng: random.Random, size: int) -> str:
    out = []
    for _ in range(size):
        word = rng.choice(VOCABULARY)
        out.append(word + rng.choice(["", "", "", ",", ".", "-"]))
    return " ".join(out).replace("- ", "-")


def random_document(rng: random.Random) -> Document:
    return Document(
        title=random_text(rng, rng.randint(0, 6)),
        summary=random_text(rng, rng.randint(0, 8)),
        body=random_text(rng, rng.randint(0, 30)),
        source=rng.choice(["", "UK Times uktimes.example", "China Daily", "Beijing Post"]),
    )


def random_query(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth >= 3 or roll < 0.35:
        word = rng.choice(QUERY_WORDS)
        if rng.random() < 0.15:
            word = rng.choice(["title:", "body:", "summary:", "source:"]) + word
        return word
    if roll < 0.55:
        parts = [random_query(rng, depth + 1) for _ in range(rng.randint(2, 3))]
        return "(" + rng.choice([" AND ", " "]).join(parts) + ")"
    if roll < 0.75:
        parts = [random_query(rng, depth + 1) for _ in range(rng.randint(2, 3))]
        return "(" + " OR ".join(parts) + ")"
    if roll < 0.88:
        return (
            f"({random_query(rng, depth + 1)} {rng.choice(['NOT ', '-'])}{rng.choice(QUERY_WORDS)})"
        )
    op = rng.choice(["NEAR", "ONEAR"])
    left = rng.choice([*QUERY_WORDS[:11], '"United Kingdom"', "(UK OR China)", "brit*"])
    right = rng.choice([*QUERY_WORDS[:11], '"visits Beijing"', "(visit OR talks)"])
    return f"{left} {op}/{rng.randint(0, 4)} {right}"


def parse_or_error(
    query: str, lists: dict[str, list[str]] | None = None
) -> Node | QuerySyntaxError:
    """The tree, or the error: what the parser promises for any input."""
    try:
        return parse(query, lists=lists or {})
    except QuerySyntaxError as exc:
        return exc


def random_rules(rng: random.Random, count: int) -> list[tuple[RuleSpec, Node]]:
    rules: list[tuple[RuleSpec, Node]] = []
    while len(rules) < count:
        query = random_query(rng)
        try:
            node = parse(query, lists=LISTS)
        except QuerySyntaxError:
            continue  # e.g. a random rule that only negates
        rules.append((RuleSpec(f"r{len(rules):04d}", query), node))
    return rules
