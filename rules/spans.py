"""Where sentences and the lead of an article's text end, for ``SENT`` and ``lead:``.

A sentence ends at a word chunk ending in ``.``, ``!``, ``?`` or ``…`` (closing quotes and
brackets after it allowed), and at every line break: articles arrive as text with one
paragraph per line (newswatch.normalize). A full stop after a known abbreviation (Mr., Dr.,
Gen., …), a single letter (the initial in "J. Smith") or a dotted abbreviation (U.S.,
e.g.) ends nothing; the price is that a sentence ending in "U.S." runs on into the next.
"""

from __future__ import annotations

import re

from rules import analyze

__all__ = ["LEAD_WORDS", "lead_of", "sentence_numbers"]

LEAD_WORDS = 60  # the lead of a text without paragraphs

_LINES = re.compile(r"\n")
_CLOSERS = "\"'”’)]»"
_ENDS = ".!?…"
# titles, months and the like whose full stop ends no sentence
_ABBREVIATION_WORDS = """mr mrs ms dr prof st jr sr gen col lt sgt capt cmdr adm maj gov sen
    rep rev hon pres vs etc inc ltd co corp dept fig jan feb mar apr jun jul aug sep sept oct
    nov dec mt ft approx"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())


def _ends_sentence(chunk: str) -> bool:
    stripped = chunk.rstrip(_CLOSERS)
    if not stripped or stripped[-1] not in _ENDS:
        return False
    if stripped[-1] != ".":
        return True
    word = stripped[:-1].lstrip("\"'“‘([«").casefold()
    return not (word in _ABBREVIATIONS or len(word) == 1 or "." in word)


def sentence_numbers(text: str) -> list[int]:
    """The sentence number of each word of ``text``, words counted as rules.analyze counts
    them (per white-space chunk); numbers only compare equal or not."""
    numbers: list[int] = []
    sentence = 0
    for line in _LINES.split(text):
        for chunk in line.split():
            numbers.extend([sentence] * len(analyze.CHUNK_WORDS[chunk]))
            if _ends_sentence(chunk):
                sentence += 1
        sentence += 1
    return numbers


def lead_of(title: str, text: str) -> str:
    """The title and the first paragraph of ``text`` (its first line), or its first
    ``LEAD_WORDS`` words when it is one paragraph."""
    text = text.strip()
    first, newline, _ = text.partition("\n")
    if not newline:
        first = " ".join(text.split()[:LEAD_WORDS])
    return f"{title}\n{first}" if title else first
