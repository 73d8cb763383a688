"""The analyzer decides what a word is, for articles and rules alike."""

from __future__ import annotations

import pytest

from rules.analyze import SpanLocator, Token, spans, stem_of, tokenize, words


def norms(text: str) -> list[str]:
    return [t.norm for t in tokenize(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "UK Foreign Secretary visits Beijing",
            ["uk", "foreign", "secretary", "visits", "beijing"],
        ),
        # whole words only: no word inside another word
        ("ukulele festival", ["ukulele", "festival"]),
        ("Indochina", ["indochina"]),
        # an acronym with periods reads as the letters
        ("the U.K. and the U.S.A.", ["the", "uk", "and", "the", "usa"]),
        ("U.K", ["uk"]),
        ("the U.K.'s plan", ["the", "uk", "plan"]),
        # possessives with ' and ’ read as the word
        ("China's rise", ["china", "rise"]),
        ("China’s rise", ["china", "rise"]),
        ("the students' union", ["the", "students", "union"]),
        # apostrophes inside a word keep it whole
        ("don't O'Brien", ["don't", "o'brien"]),
        # hyphenated compounds are their parts
        ("UK-China talks", ["uk", "china", "talks"]),
        ("well‐known", ["well", "known"]),  # U+2010 hyphen
        # numbers keep their decimal point and thousands separator
        ("3.5% of 1,000 in 2024.", ["3.5", "of", "1,000", "in", "2024"]),
        # other periods separate words (domains read as their parts)
        ("harbourgazette.example", ["harbourgazette", "example"]),
        # NFKC: full-width letters and ligatures
        ("ＵＫ ﬁnance", ["uk", "finance"]),
        # diacritics folded, letters with strokes too, ß case-folds to ss
        (
            "Québec Zürich Łódź São Paulo straße",
            ["quebec", "zurich", "lodz", "sao", "paulo", "strasse"],
        ),
        # decomposed accents stay inside the word
        ("Que\u0301bec", ["quebec"]),
        # each Han ideograph is a word
        ("中国 UK", ["中", "国", "uk"]),
        # marks inside Indic words do not split them
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),
        # punctuation is not a word
        ("— & ! ?", []),
    ],
)
def test_normalisation(text: str, expected: list[str]) -> None:
    assert norms(text) == expected


def test_tokens_carry_surface_positions_and_offsets() -> None:
    text = "The U.K.'s Foreign Secretary visited China’s capital"
    tokens = tokenize(text)
    assert [t.position for t in tokens] == list(range(len(tokens)))
    for token in tokens:
        assert text[token.start : token.end] == token.text
    uk = tokens[1]
    assert uk == Token(text="U.K.'s", norm="uk", stem="uk", position=1, start=4, end=10, exact="UK")
    assert tokens[4].stem == "visit"
    assert (tokens[5].text, tokens[5].norm) == ("China’s", "china")


@pytest.mark.parametrize("word", ["visit", "visits", "visited", "visiting"])
def test_inflections_share_a_stem(word: str) -> None:
    assert stem_of(word) == "visit"


def test_stemming_keeps_different_words_apart() -> None:
    assert stem_of("visitor") != stem_of("visit")
    assert stem_of("Indochina") != stem_of("China")


def test_exact_form_keeps_case_but_folds_accents() -> None:
    assert [t.exact for t in tokenize("US us U.S. Québec")] == ["US", "us", "US", "Quebec"]


def test_words_and_spans_agree_with_tokenize() -> None:
    text = "Mr. O'Brien's U.K.-China visit, on 18.10.2024: «Québec» 中国 — done."
    tokens = tokenize(text)
    assert words(text) == [t.text for t in tokens]
    assert spans(text) == [(t.start, t.end) for t in tokens]


def test_span_locator_finds_any_position() -> None:
    text = "  Mr. O'Brien's U.K.-China visit,\n\ton 18.10.2024:\u00a0«Québec» 中国 — done. "
    locator = SpanLocator(text)
    expected = spans(text)
    assert [locator[p] for p in range(len(expected))] == expected
    assert [locator[p] for p in (5, 0, 3)] == [expected[5], expected[0], expected[3]]


@pytest.mark.parametrize(
    "text",
    [
        "one two three",
        "U.K.-China visit, today",
        "a  b",
        " a b",
        "a b ",
        "a\nb\tc",
        # one word per chunk, single spaces: the quick path, and its look-up for punctuation
        "(UK) visit, Québec's 3.5 abc123 x² café.",
    ],
)
def test_span_locator_with_single_and_irregular_spacing(text: str) -> None:
    locator = SpanLocator(text)
    assert [locator[p] for p in range(len(spans(text)))] == spans(text)
    assert [locator.word(p) for p in range(len(words(text)))] == words(text)


def test_white_space_of_any_kind_separates_words() -> None:
    assert norms("UK\u00a0China\u2009visit\tnow\nthen") == ["uk", "china", "visit", "now", "then"]


def test_word_caches_are_bounded() -> None:
    from rules.analyze import BoundedCache

    calls: list[str] = []

    def shout(word: str) -> str:
        calls.append(word)
        return word.upper()

    cache = BoundedCache(shout, limit=2)
    assert [cache[w] for w in ["a", "b", "a", "c", "a"]] == ["A", "B", "A", "C", "A"]
    assert len(cache) <= 2
    assert calls == ["a", "b", "c", "a"]  # cleared when full, then filled again
