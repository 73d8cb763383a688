"""Query strings -> syntax trees, and errors that point at the column of the problem."""

from __future__ import annotations

import pickle
import random

import pytest

from rules.elements import word_patterns
from rules.query import parse
from rules.syntax import (
    DEFAULT_FIELDS,
    And,
    Near,
    Node,
    Not,
    Or,
    QuerySyntaxError,
    Term,
)
from tests.support.rules_reference import parse_or_error

LISTS = {
    "uk": ["UK", "Britain", "British", "United Kingdom"],
    "bad": ["UK", "br*"],
}


def show(node: Node) -> str:
    """A compact rendering of a tree, to compare structure."""
    if isinstance(node, Term):
        scope = "" if node.fields == DEFAULT_FIELDS else "/".join(sorted(node.fields)) + ":"
        return scope + node.text
    if isinstance(node, And):
        return "AND(" + ", ".join(show(c) for c in node.children) + ")"
    if isinstance(node, Or):
        return "OR(" + ", ".join(show(c) for c in node.children) + ")"
    if isinstance(node, Not):
        return "NOT(" + show(node.child) + ")"
    op = "ONEAR" if node.ordered else "NEAR"
    return f"{op}/{node.distance}({show(node.left)}, {show(node.right)})"


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("visit", "visit"),
        ('"United Kingdom"', '"United Kingdom"'),
        ("!US", "!US"),
        ("UK AND China", "AND(UK, China)"),
        ("UK China", "AND(UK, China)"),
        ("UK OR China", "OR(UK, China)"),
        ("NOT Japan visit", "AND(NOT(Japan), visit)"),
        ("visit -Japan", "AND(visit, NOT(Japan))"),
        ("(UK OR Britain) AND China", "AND(OR(UK, Britain), China)"),
        ("UK NEAR/5 China", "NEAR/5(UK, China)"),
        ("UK ONEAR/3 China", "ONEAR/3(UK, China)"),
        ("brit*", "brit*"),
        ("title:(UK OR Britain)", "OR(title:UK, title:Britain)"),
        ("source:gazette", "source:gazette"),
        ("summary:visit body:China", "AND(summary:visit, body:China)"),
        ("@uk", "@uk"),
        # precedence: NOT > AND > OR
        ("a OR b AND c", "OR(a, AND(b, c))"),
        ("a b OR c d", "OR(AND(a, b), AND(c, d))"),
        ("NOT a b OR c", "OR(AND(NOT(a), b), c)"),
        ("a AND NOT b OR c", "OR(AND(a, NOT(b)), c)"),
        ("a AND (b OR c)", "AND(a, OR(b, c))"),
        # NEAR binds tighter than AND
        ("a NEAR/2 b AND c", "AND(NEAR/2(a, b), c)"),
        ("(a OR b) NEAR/2 c", "NEAR/2(OR(a, b), c)"),
        # lower-case operators are words
        ("uk and china", "AND(uk, and, china)"),
        # a word with a hyphen is a word, not a NOT
        ("UK-China -Japan", "AND(UK-China, NOT(Japan))"),
        ("-(Japan OR Korea) China", "AND(NOT(OR(Japan, Korea)), China)"),
        ("“United Kingdom”", "“United Kingdom”"),
        ("Title:UK", "title:UK"),
        ("title: UK", "title:UK"),
    ],
)
def test_syntax(query: str, tree: str) -> None:
    assert show(parse(query, lists=LISTS)) == tree


def elements(query: str) -> list[tuple[str, str]]:
    """The term's English pattern (the first; other languages add theirs only where their
    lemmas differ, see test_words_are_lemmatised_in_every_language)."""
    node = parse(query, lists=LISTS)
    assert isinstance(node, Term)
    return list(node.patterns[0])


def test_words_become_analysed_elements() -> None:
    assert elements("visited") == [("stem", "visit")]
    assert elements("executive") == [("stem", "executive")]
    # a capitalised word is a name: compared by its form, not lemmatised
    assert elements("Visited") == [("norm", "visited")]
    assert elements('"Visits Beijing"') == [("norm", "visits"), ("norm", "beijing")]
    assert elements("!US") == [("exact", "US")]
    assert elements("Brit*") == [("prefix", "brit")]
    assert elements("Québ*") == [("prefix", "queb")]
    # a word the analyzer splits matches its parts in sequence
    assert elements("UK-China") == [("norm", "uk"), ("norm", "china")]
    assert elements("U.K.") == [("norm", "uk")]
    assert elements("harbourgazette.example") == [("stem", "harbourgazette"), ("stem", "example")]
    assert elements('"British gov*"') == [("norm", "british"), ("prefix", "gov")]


def test_a_name_is_the_word_or_its_plural_in_s() -> None:
    node = parse("German", lists=LISTS)
    assert isinstance(node, Term)
    assert node.patterns[:2] == ((("norm", "german"),), (("norm", "germans"),))


def test_words_are_lemmatised_in_the_language_compiled_for() -> None:
    # English knows no "visites"; French lists it under visite (looked up once, never again)
    assert word_patterns("visites", False, "en") == ((("stem", "visites"),),)
    assert word_patterns("visites", False, "fr")[0] == (("stem", "visite"),)
    # a French-only form is not an English key: English articles never see it
    assert word_patterns("uses", False, "en")[0] == (("stem", "use"),)
    assert word_patterns("uses", False, "fr")[0] == (("stem", "user"),)


def test_list_entries_may_be_phrases() -> None:
    node = parse("@uk", lists=LISTS)
    assert isinstance(node, Term)
    english = [p for p in node.patterns if not any(v.startswith("\x1f") for _, v in p)]
    assert english == [
        (("norm", "uk"),),
        (("norm", "britain"),),
        (("norm", "british"),),
        (("norm", "united"), ("norm", "kingdom")),
    ]
    quoted = parse("@q", lists={"q": ['"New York"', "!US", "gov*"]})
    assert isinstance(quoted, Term)
    assert quoted.patterns[0] == (("norm", "new"), ("norm", "york"))
    assert (("exact", "US"),) in quoted.patterns
    assert (("prefix", "gov"),) in quoted.patterns


def test_field_scope_applies_to_every_term_inside() -> None:
    node = parse("title:(UK AND NOT Japan)")
    assert show(node) == "AND(title:UK, NOT(title:Japan))"


def test_terms_keep_their_column() -> None:
    node = parse("UK AND  China")
    assert isinstance(node, And)
    assert [c.column for c in node.children] == [1, 9]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("(UK AND China", 1, "unbalanced parenthesis"),
        ("UK AND (China OR (Beijing)", 8, "unbalanced parenthesis"),
        ("UK AND China)", 13, "unbalanced parenthesis"),
        ("UK AND", 4, "dangling operator: AND"),
        ("AND UK", 1, "dangling operator: AND"),
        ("UK OR", 4, "dangling operator: OR"),
        ("UK OR OR China", 4, "dangling operator: OR"),
        ("(UK AND) China", 5, "dangling operator: AND"),
        ("UK NOT", 4, "dangling operator: NOT"),
        ("UK NEAR China", 4, "NEAR needs a distance"),
        ("UK NEAR/ China", 4, "NEAR needs a distance"),
        ("UK ONEAR/x China", 4, "ONEAR needs a distance"),
        ("UK NEAR/5", 4, "dangling operator: NEAR/5"),
        ("UK NEAR/3 (China AND visit)", 12, "NEAR/3 works on words"),
        ("UK NEAR/3 -China", 4, "dangling operator: NEAR/3"),
        ("visit AND @nope", 11, "unknown list '@nope'"),
        ("@bad visit", 1, "list 'bad' entry 'br*'"),
        ("br*", 1, "at least 3 letters"),
        ('"br* gov"', 1, "at least 3 letters"),
        ("UK AND b*r", 9, "'*' is only allowed at the end"),
        ("NOT UK", 1, "only excludes terms"),
        ("-UK -China", 1, "only excludes terms"),
        ("NOT (UK OR China)", 1, "only excludes terms"),
        ("visit OR -Japan", 10, "alternative of OR only excludes"),
        ('UK AND "United Kingdom', 8, "unterminated phrase"),
        ('""', 1, "empty phrase"),
        ("()", 1, "empty parentheses"),
        ("", 1, "empty query"),
        ("   ", 1, "empty query"),
        ("author:Smith", 1, "unknown field 'author:'"),
        ("title:", 1, "title: needs a term after it"),
        ("title:(body:UK)", 8, "body: inside title: can never match"),
        ("UK & China", 4, "'&' has no letters or digits"),
        ("UK - China", 4, "'-' must be followed directly"),
        ("! US", 1, "'!' must be followed directly"),
        ("!brit*", 1, "cannot be combined with a '*' wildcard"),
        ("@ uk", 1, "'@' must be followed by the name of a list"),
    ],
)
def test_errors_name_the_column(query: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query, lists=LISTS, rule_id="r1")
    error = caught.value
    assert message in error.message
    assert error.column == column
    assert error.rule_id == "r1"
    assert error.query == query


def test_error_renders_rule_id_column_and_caret() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("(UK AND China", rule_id="uk-china")
    assert caught.value.render() == (
        "rule 'uk-china': unbalanced parenthesis: this '(' is never closed at column 1\n"
        "  (UK AND China\n"
        "  ^"
    )
    assert str(caught.value) == caught.value.render()


def test_caret_sits_under_the_column() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("visit AND @nope")
    lines = caught.value.render().splitlines()
    assert lines[0] == "unknown list '@nope' at column 11"
    assert lines[2].index("^") - 2 == 10
    assert lines[1][lines[2].index("^")] == "@"


def test_caret_accounts_for_wide_characters_and_newlines() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("中国\nAND")
    lines = caught.value.render().splitlines()
    assert lines[1] == "  中国 AND"
    # 中国 and the space take five display columns, so the caret is under the A of AND
    assert lines[2] == "       ^"


def test_error_survives_pickling() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("UK AND", rule_id="r")
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own object
    assert (copy.message, copy.column, copy.query, copy.rule_id) == (
        caught.value.message,
        4,
        "UK AND",
        "r",
    )


def test_parser_never_crashes_on_arbitrary_input() -> None:
    """Random strings over the query alphabet give a tree or a QuerySyntaxError."""
    rng = random.Random(6)
    pieces = [
        "UK", "China", "visit", "AND", "OR", "NOT", "NEAR/3", "ONEAR/2", "NEAR", "(", ")",
        '"', "“", "”", "!", "-", "*", "brit*", "@uk", "@", "title:", "source:", "foo:", " ",
        "  ", "\n", "中国", "é", "'", ".", ",", "/", ":", "&", "br*", "U.K.", "-x",
    ]  # fmt: skip
    for _ in range(3000):
        query = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 9)))
        result = parse_or_error(query, LISTS)
        if isinstance(result, QuerySyntaxError):
            assert 1 <= result.column <= len(query) + 1
            assert result.render().count("\n") == 2
        else:
            assert isinstance(result, Term | And | Or | Not | Near)
