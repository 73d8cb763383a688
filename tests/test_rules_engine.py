"""Matching as a user sees it: every syntax row and normalisation rule, hit and near-miss."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from rules import (
    Document,
    Hit,
    QuerySyntaxError,
    RuleErrors,
    RuleIndex,
    RuleSpec,
    TermHit,
    check_rules,
    compile_rules,
)
from rules.analyze import tokenize
from rules.spans import sentence_numbers
from rules.textview import FieldView

LISTS = {
    "uk": ["UK", "Britain", "British", "United Kingdom"],
    "china": ["China", "Beijing", '"People\'s Republic"'],
}


def matches(query: str, doc: Document) -> bool:
    index = compile_rules([RuleSpec("r", query)], LISTS)
    hits = index.match(doc)
    # the pre-selected path and the plain evaluation always agree
    assert (index.match_rule("r", doc) is not None) == bool(hits)
    return bool(hits)


def body(text: str) -> Document:
    return Document(body=text)


# (query, text that must match, near-miss text that must not)
CASES = [
    # the worked example
    ("UK AND China AND visit", "UK minister visits China", "UK minister visits Japan"),
    ("UK AND China AND visit", "UK minister visits China", "ukulele festival visit in China"),
    ("UK AND China AND visit", "UK minister visits China", "UK visit to Indochina"),
    # visit: any case, inflections, whole words
    ("visit", "She VISITED Paris", "a visitor came"),
    ("visit", "visiting hours", "revisit the plan"),
    ("visit", "two visits", "the visa office"),
    # "phrase": exact words in sequence, no stemming
    ('"United Kingdom"', "the united kingdom said", "the kingdom, united, said"),
    ('"United Kingdom"', "the United Kingdom said", "the United Kingdoms said"),
    ('"foreign secretary"', "Foreign Secretary Lammy", "foreign secretaries met"),
    ('"visit"', "a state visit", "a state visiting"),
    # !Word: case-sensitive exact word
    ("!US", "the US said", "let us say"),
    ("!US", "the U.S. said", "the Us said"),
    ('!"White House"', "the White House said", "a white house"),
    # AND, adjacency, OR
    ("UK China", "UK and China", "UK alone"),
    ("UK OR China", "China alone", "Japan alone"),
    ("UK OR China", "UK alone", "ukulele and Indochina"),
    # NOT and minus
    ("China NOT Japan", "China talks", "China and Japan talks"),
    ("China -Japan", "China talks", "China and Japan talks"),
    ("China -(Japan OR Korea)", "China talks", "China and Korea talks"),
    # grouping and precedence NOT > AND > OR
    ("(UK OR Britain) AND China", "Britain and China", "Britain and Japan"),
    ("UK OR Britain AND China", "UK alone", "Britain alone"),
    ("NOT Japan China OR Korea", "Korea with Japan", "Japan and China"),
    # NEAR/n: at most n words between, either order; ONEAR in order
    ("UK NEAR/2 China", "UK and the China talks", "UK and then the China talks"),
    ("UK NEAR/2 China", "China and UK", "China, one two three, UK"),
    ("UK NEAR/0 China", "UK China talks", "UK, then China"),
    ("UK ONEAR/3 China", "UK meets China", "China meets UK"),
    (
        '"foreign secretary" NEAR/3 China',
        "foreign secretary in China",
        "foreign secretary a b c d China",
    ),
    ("(UK OR Britain) NEAR/1 visit*", "Britain's visitors", "Britain had many visitors"),
    # brit*: prefix wildcard
    ("brit*", "British officials", "the Brexit vote"),
    ("brit*", "Britain", "rebrit"),
    ("Québ*", "Quebec City", "Quarry"),
    ("gov*", "the gov said", "go to the goal"),
    ("gov*", "the Government said", "a good vote"),
    ("minis*", "Ministers met", "a minimum wage"),
    # field scopes: see test_field_scopes
    # @list: any entry, entries may be phrases
    ("@uk AND China", "the United Kingdom and China", "the kingdom and China"),
    ("@uk AND China", "British and China", "Brits and China"),
    ("@china visit", "visit to the People's Republic", "visit to the people"),
]


@pytest.mark.parametrize(("query", "hit", "miss"), CASES)
def test_syntax_rows(query: str, hit: str, miss: str) -> None:
    assert matches(query, body(hit))
    assert not matches(query, body(miss))


# The professional monitors' operators (issue 17, item 4): (query, article that must match,
# near-miss that must not). A text is the body; lead: also looks at the title.
OPERATOR_CASES = [
    # atleastN(term): counted in the title and the body, inflections included
    ("atleast3(visit)", body("He visited. She visits. A visit."), body("A visit, then a visit.")),
    ("atleast3(visit)", Document(title="Visit", body="visits, visiting"), body("visits, visiting")),
    ("atleast2(@uk) AND China", body("UK and Britain in China"), body("UK in China")),
    ('atleast2("prime minister")', body("prime minister, prime minister"), body("prime minister")),
    # the summary repeats the body's start: it counts only when there is no body
    ("atleast2(Lammy)", Document(summary="Lammy. Lammy."), Document(summary="Lammy", body="Lammy")),
    # a SENT b: both in one sentence, either order
    ("UK SENT China", body("The UK and China met. Talks went on."), body("The UK met. China too.")),
    ("UK SENT China", body("China praised the UK!"), body("The UK met Japan?\nChina was pleased")),
    (
        "UK SENT China",
        body("Mr. Lammy of the UK met China's Wang."),
        body("UK talks. In China, more"),
    ),
    ("(UK OR Britain) SENT visit*", body("Britain plans visits."), body("Britain plans. Visits.")),
    # lead:( … ): the title and the first paragraph (first 60 words without paragraphs)
    ("lead:Lammy", body("Lammy arrives.\nTalks follow."), body("Talks begin.\nLammy spoke.")),
    ("lead:Lammy", Document(title="Lammy in Beijing", body="x\ny"), body("Talks.\nThen Lammy.")),
    (
        "lead:(Lammy AND visit)",
        body("Lammy to visit"),
        body(" ".join(["word"] * 60) + " Lammy visit"),
    ),
    # site:host: the URL's host or a subdomain of it; source: stays the outlet name
    (
        "site:example.org",
        Document(body="x", host="news.example.org"),
        Document(host="badexample.org"),
    ),
    (
        "site:example.org",
        Document(host="example.org"),
        Document(source="example.org", host="x.net"),
    ),
    (
        "visit -site:tabloid.example",
        Document(body="visit", host="a.b"),
        Document(body="visit", host="tabloid.example"),
    ),
    # lang:xx: the article's language code (its region ignored)
    (
        "lang:fr AND visite",
        Document(body="une visite", lang="fr"),
        Document(body="une visite", lang="en"),
    ),
    ("lang:pt", Document(body="x", lang="pt-BR"), Document(body="x")),
    # a wildcard word in a phrase
    ('"prime minister*"', body("the prime ministers met"), body("the prime suspect minister")),
    ('"prime minister*"', body("Prime Minister's questions"), body("prime time for ministers")),
]


@pytest.mark.parametrize(("query", "hit", "miss"), OPERATOR_CASES)
def test_operator_rows(query: str, hit: Document, miss: Document) -> None:
    assert matches(query, hit)
    assert not matches(query, miss)


@pytest.mark.parametrize(
    "text",
    [
        "UK-China talks. Mr. Lammy met Wang Yi!\nThe U.K.'s aim… “Yes.” (Then) 中国和日本",
        "— a dash, 2,000 words; e.g. café's ﬁnance — ＵＫ",
    ],
)
def test_sentences_are_numbered_word_for_word_as_matching_counts_words(text: str) -> None:
    """SENT compares the sentence numbers of word positions: one number per matched word."""
    assert len(sentence_numbers(text)) == len(FieldView(text).stems)


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("atleast(visit)", "atleastN needs how many times", 1),
        ("UK AND atleast0(visit)", "atleastN needs how many times", 8),
        ("atleast3(UK AND visit)", "counts one word, phrase or @list", 10),
        ("atleast3()", "needs a word, phrase or @list inside", 9),
        ("visit SENT", "SENT needs a term after it", 7),
        ("(UK AND China) SENT visit", "SENT works on words", 2),
        ("site:", "site: needs a value right after it", 1),
        ("visit AND site:https://example.org/x", "site: needs a host name", 16),
        ("lang:french", "lang: needs a two- or three-letter language code", 6),
        ("lang:fr NEAR/3 visit", "NEAR/3 works on words", 1),
        ("lede:(visit)", "unknown field 'lede:'", 1),
    ],
)
def test_operator_mistakes_name_the_rule_and_column(query: str, message: str, column: int) -> None:
    problems = check_rules([RuleSpec("desk-rule", query)], LISTS)
    assert problems, query
    first = problems[0]
    assert message in first.message
    assert first.rule_id == "desk-rule"
    assert first.column == column
    assert first.render().startswith("rule 'desk-rule': ")
    assert f"at column {column}\n" in first.render()


# (query, text, expected) for the normalisation rules of DESIGN.md
NORMALISATION = [
    ("UK", "the ukulele festival", False),
    ("China", "a history of Indochina", False),
    ("UK", "the U.K. said", True),
    ("UK", "the U.K.'s position", True),
    ("U.K.", "the UK said", True),
    ("China", "China's economy", True),
    ("China", "China’s economy", True),
    ("China", "UK-China talks", True),
    ("UK", "UK-China talks", True),
    ("UK-China", "UK China talks", True),
    ("UK-China", "UK–China talks", True),
    ("UK-China", "China-UK talks", False),
    ("Quebec", "Québec City", True),
    ("Québec", "QUEBEC city", True),
    ("Zurich", "Zürich", True),
    ("Lodz", "Łódź", True),
    ("strasse", "Straße", True),
    ("UK", "ＵＫ talks", True),
    ("finance", "ﬁnance ministers", True),
    ("中国", "中国和日本", True),
    ("中国", "中和国", False),
    ("harbourgazette.example", "see harbourgazette.example today", True),
    ("harbourgazette", "see harbourgazette.example today", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), NORMALISATION)
def test_normalisation_rules(query: str, text: str, expected: bool) -> None:
    assert matches(query, body(text)) is expected


ARTICLE = Document(
    title="UK Foreign Secretary visits Beijing",
    summary="David Lammy met Wang Yi.",
    body="The visit to China, the first by a UK foreign secretary since 2018, ...",
    source="Harbour Gazette harbourgazette.example",
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("title:Beijing", True),
        ("title:China", False),
        ("summary:Lammy", True),
        ("body:Lammy", False),
        ("body:(China AND visit)", True),
        ("title:(UK NEAR/3 visit)", True),
        ("body:2018 AND title:UK", True),
        # source: the outlet name or its domain; the default fields leave the source out
        ("source:gazette", True),
        ("source:harbourgazette.example", True),
        ('source:"Harbour Gazette"', True),
        ("source:China", False),
        ("gazette", False),
        ("harbour* AND visit", False),
        ("source:harbour* AND visit", True),
        ("title:Secret* AND visit", True),
        ("title:Lam* AND visit", False),
        ("summary:Lam*", True),
        # NEAR never pairs words of different fields
        ("Beijing NEAR/3 Lammy", False),
    ],
)
def test_field_scopes(query: str, expected: bool) -> None:
    assert matches(query, ARTICLE) is expected


def test_worked_example() -> None:
    index = compile_rules([RuleSpec("uk-china-visit", "UK AND China AND visit")])
    assert [h.rule_id for h in index.match(ARTICLE)] == ["uk-china-visit"]
    for title, text in [
        ("Ukulele festival opens in China", "Visitors came from all over China."),
        ("A history of Indochina", "A UK visit to Indochina."),
        ("UK minister visits Japan", "The UK visit to Tokyo."),
    ]:
        assert index.match(Document(title=title, body=text)) == []


# --------------------------------------------------------------------------- explanations


def test_hit_names_the_terms_that_fired_with_positions_and_spans() -> None:
    index = compile_rules([RuleSpec("uk-china-visit", "UK AND China AND visit -Japan")])
    doc = Document(
        title="UK Foreign Secretary visits Beijing", body="Talks in China. China’s view."
    )
    (hit,) = index.match(doc)
    assert hit == Hit(
        "uk-china-visit",
        (
            TermHit("UK", "title", (0,), ((0, 2),)),
            TermHit("China", "body", (2, 3), ((9, 14), (16, 23))),
            TermHit("visit", "title", (3,), ((21, 27),)),
        ),
    )
    assert hit.matched_terms == ["UK", "China", "visit"]
    assert doc.body[16:23] == "China’s"


def test_explanation_per_field_and_phrase_spans() -> None:
    index = compile_rules([RuleSpec("r", '"United Kingdom" OR @uk')], LISTS)
    doc = Document(title="United Kingdom news", body="In the United Kingdom, Britain ...")
    (hit,) = index.match(doc)
    assert hit.terms == (
        TermHit('"United Kingdom"', "title", (0, 1), ((0, 14),)),
        TermHit('"United Kingdom"', "body", (2, 3), ((7, 21),)),
        TermHit("@uk", "title", (0, 1), ((0, 14),)),
        TermHit("@uk", "body", (2, 3, 4), ((7, 21), (23, 30))),
    )
    assert hit.matched_terms == ['"United Kingdom"', "@uk"]


def test_explanation_leaves_out_negated_terms_and_false_alternatives() -> None:
    index = compile_rules([RuleSpec("r", "China AND (visit OR (talks AND Japan)) -Korea")])
    (hit,) = index.match(body("China visit talks"))
    assert hit.matched_terms == ["China", "visit"]


def test_near_explains_only_the_occurrences_that_are_near() -> None:
    index = compile_rules([RuleSpec("r", "UK NEAR/1 China")])
    text = "UK one two three China. Later on: UK and China."
    (hit,) = index.match(body(text))
    assert hit.terms == (
        TermHit("UK", "body", (7,), ((34, 36),)),
        TermHit("China", "body", (9,), ((41, 46),)),
    )


def test_term_written_twice_is_explained_once_per_field() -> None:
    index = compile_rules([RuleSpec("r", "UK AND (UK NEAR/2 China)")])
    (hit,) = index.match(body("UK and China; UK again"))
    assert hit.terms == (
        TermHit("UK", "body", (0, 3), ((0, 2), (14, 16))),
        TermHit("China", "body", (2,), ((7, 12),)),
    )


def test_hits_are_sorted_by_rule_id() -> None:
    rules = [RuleSpec(i, "China") for i in ["zeta", "alpha", "mid"]]
    index = compile_rules(rules)
    assert [h.rule_id for h in index.match(body("China"))] == ["alpha", "mid", "zeta"]
    assert len(index) == 3
    assert "mid" in index
    assert index.rule_ids == ["alpha", "mid", "zeta"]


# --------------------------------------------------------------------------- pre-selection


def many_rules(count: int) -> list[RuleSpec]:
    """Rules about made-up places, each needing two rare words, like real watch lists."""
    return [
        RuleSpec(f"r{n:05d}", f"place{n} AND (minister OR envoy) AND visit -Japan")
        for n in range(count)
    ] + [RuleSpec(f"s{n:05d}", f'"city{n} mayor" OR title:town{n}') for n in range(count)]


def test_only_candidates_are_evaluated() -> None:
    index = compile_rules(many_rules(5000))
    assert len(index) == 10_000
    doc = Document(
        title="Town17 news",
        body="The minister's visit to Place42, then Place4242 and City7 mayor's office.",
    )
    hits, candidates = index.match_with_stats(doc)
    assert [h.rule_id for h in hits] == ["r00042", "r04242", "s00007", "s00017"]
    assert candidates <= 2 * len(hits)
    assert index.candidates(doc) == ["r00042", "r04242", "s00007", "s00017"]
    quiet = Document(title="Weather", body="Rain and more rain, a visit by no minister.")
    assert index.match_with_stats(quiet) == ([], 0)


def test_rule_with_or_at_the_top_is_found_through_any_alternative() -> None:
    index = compile_rules([RuleSpec("r", "(UK AND visit) OR (Britain AND talks) OR brit*")])
    assert index.match(body("UK visit"))
    assert index.match(body("Britain talks"))
    assert index.match(body("British"))
    assert not index.match(body("UK talks"))


def test_candidates_need_every_required_word() -> None:
    index = compile_rules([RuleSpec("r", '"UK China" AND visit')])
    assert index.candidates(body("UK and China")) == []
    assert index.candidates(body("China, UK, visit")) == ["r"]  # words there, phrase not
    assert index.match(body("China, UK, visit")) == []
    assert index.match(body("the UK China visit"))


def test_sample_articles_change_the_filing_not_the_results() -> None:
    rules = many_rules(500)
    sample = [Document(body="minister visit envoy " * 5)] * 10
    doc = Document(title="Town3", body="the minister's visit to Place99")
    assert compile_rules(rules, sample=sample).match(doc) == compile_rules(rules).match(doc)


def test_wildcard_only_and_source_only_rules_are_found() -> None:
    index = compile_rules(
        [RuleSpec("w", "visit*"), RuleSpec("s", "source:gazette"), RuleSpec("l", "@uk")], LISTS
    )
    doc = Document(body="Visitors from the United Kingdom", source="The Gazette")
    assert [h.rule_id for h in index.match(doc)] == ["l", "s", "w"]


def test_long_and_rules_need_every_word_before_they_are_candidates() -> None:
    # six required words: past the key columns, the rest is checked as a set
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    index = compile_rules([RuleSpec("r", " AND ".join(words))])
    for missing in words:
        text = " ".join(w for w in words if w != missing)
        assert index.match_with_stats(body(text)) == ([], 0), missing
    assert [h.rule_id for h in index.match(body(" ".join(reversed(words))))] == ["r"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("UK ministers visiting", True),
        ("the Visitor's book in the UK", True),  # possessive
        ("UK ministers on a visa", False),
        ("UK: vi.sit", False),  # periods separate words
        ("UK VISITS", True),
        ("UK Visïtors", True),  # not ASCII: accents fold, no shortcut
        ("UK Vïsa", False),
    ],
)
def test_wildcard_with_words_is_checked_on_the_candidate(text: str, expected: bool) -> None:
    assert matches("UK AND visit*", body(text)) is expected


@pytest.mark.parametrize(
    "text",
    [
        "The U.K.-based visitors' re-visit (Visits) of visa holders, visiting again",
        "visit visit. Visit's revisit VISITOR-visits",
        "  Visit with  two spaces\nand a visit",  # not single-spaced: the per-word scan
        "Visïtors visit",  # not ASCII: the per-word scan
    ],
)
def test_wildcard_positions_are_every_word_starting_with_it(text: str) -> None:
    [hit] = compile_rules([RuleSpec("r", "visit*")]).match(body(text))
    expected = tuple(t.position for t in tokenize(text) if t.norm.startswith("visit"))
    assert [term.positions for term in hit.terms] == [expected]


@pytest.mark.parametrize("words", [50, 400])  # past the short-field scan: looked up per stem
def test_positions_in_long_fields_are_every_occurrence(words: int) -> None:
    filler = [f"word{n}" for n in range(words)]
    filler[0] = "Visits"
    filler[words // 2] = "visit"
    filler[words // 2 + 1] = "envoy"
    filler[-1] = "visited."
    text = " ".join(filler)
    [hit] = compile_rules([RuleSpec("r", "visit AND envoy")]).match(body(text))
    spans = [(t.start, t.end) for t in tokenize(text)]
    expected = (0, words // 2, words - 1)
    assert hit.terms == (
        TermHit("visit", "body", expected, tuple(spans[p] for p in expected)),
        TermHit("envoy", "body", (words // 2 + 1,), (spans[words // 2 + 1],)),
    )


@pytest.mark.parametrize(
    ("text", "expected"), [("U.S.A. trade talks", True), ("US trade talks", False)]
)
def test_wildcard_matches_acronyms_written_with_periods(text: str, expected: bool) -> None:
    assert matches("usa* AND trade", body(text)) is expected


def test_phrases_in_text_with_several_words_per_chunk() -> None:
    doc = body("UK-China visit; then a U.K.-China  visit\nand UK China visit.")
    hits = compile_rules([RuleSpec("r", '"UK China visit"')]).match(doc)
    [hit] = hits
    assert hit.terms[0].positions == (0, 1, 2, 5, 6, 7, 9, 10, 11)
    assert [doc.body[a:b] for a, b in hit.terms[0].spans] == [
        "UK-China visit",
        "U.K.-China  visit",
        "UK China visit",
    ]


def test_explanations_do_not_depend_on_the_other_rules_in_the_index() -> None:
    # with several candidates, positions are looked up for all of them in one pass
    specs = [
        RuleSpec("a", "visit AND envoy"),
        RuleSpec("b", '"trade talks" AND (minister OR envoy) -Japan'),
        RuleSpec("c", "@uk NEAR/3 visit"),
        RuleSpec("d", "title:envoy AND trad*"),
        RuleSpec("e", '!US AND "United Kingdom"'),
        RuleSpec("f", "minister visit talks"),
    ]
    filler = " ".join(f"word{n}" for n in range(60))
    docs = [
        Document(
            title="Envoy visits for trade talks",
            summary="The minister's visit: trade talks with the US.",
            body=f"{filler} British envoy visited Beijing for trade talks. {filler} "
            "The United Kingdom minister and US trade talks, visits and traders.",
        ),
        Document(title="UK envoy visit", body="Trade talks. The UK minister visit talks."),
    ]
    together = compile_rules(specs, LISTS)
    for doc in docs:
        alone = [hit for spec in specs for hit in compile_rules([spec], LISTS).match(doc)]
        assert len(alone) >= 4
        assert together.match(doc) == alone


def test_an_index_pickled_into_another_process_matches_the_same() -> None:
    # nothing in the index may depend on this process's string hashes (PYTHONHASHSEED)
    index = compile_rules(many_rules(50))
    # the child loads the engine the way this process did, pure Python or compiled (setup.py):
    # it inherits NEWSWATCH_PURE_PYTHON and finds the same modules (rules/loading.py)
    code = (
        "import pickle, sys; from rules import Document; index = pickle.load(sys.stdin.buffer);"
        "doc = Document(title='Town7', body='the minister visit to Place42 and City3 mayor');"
        "print(','.join(h.rule_id for h in index.match(doc)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(index),
        capture_output=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "r00042,s00003,s00007"


# --------------------------------------------------------------------------- errors


def test_compile_reports_every_error_of_every_rule() -> None:
    rules = [
        RuleSpec("ok", "UK AND China"),
        RuleSpec("paren", "(UK AND China"),
        RuleSpec("list", "@nope AND br*"),
        RuleSpec("negates", "NOT Japan"),
    ]
    with pytest.raises(RuleErrors) as caught:
        compile_rules(rules, LISTS)
    found = [(e.rule_id, e.column, e.message) for e in caught.value.errors]
    assert found == [
        ("paren", 1, "unbalanced parenthesis: this '(' is never closed"),
        ("list", 1, "unknown list '@nope'"),
        ("list", 11, "a wildcard needs at least 3 letters before '*'"),
        ("negates", 1, "the rule only excludes terms: it needs at least one term that must appear"),
    ]
    text = str(caught.value)
    assert "rule 'paren': unbalanced parenthesis" in text
    assert "  @nope AND br*\n            ^" in text
    checked = check_rules(rules, LISTS)
    assert [(e.rule_id, e.column, e.message) for e in checked] == found


def test_check_rules_returns_nothing_for_good_rules() -> None:
    assert check_rules([RuleSpec("a", "UK"), RuleSpec("b", "@uk")], LISTS) == []
    errors = check_rules([RuleSpec("a", "UK AND")])
    assert len(errors) == 1
    assert isinstance(errors[0], QuerySyntaxError)


def test_empty_index_matches_nothing() -> None:
    index = compile_rules([])
    assert isinstance(index, RuleIndex)
    assert index.match_with_stats(ARTICLE) == ([], 0)
