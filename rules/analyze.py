"""Text -> tokens: the one place that decides what a "word" is, for articles and queries alike.

Rules and articles go through the same analysis, so a query word matches a text word exactly
when their analysed forms agree. The analysis is:

* words follow Unicode word rules: runs of letters, digits and combining marks; each Han
  ideograph or hiragana character is a word of its own; hyphens, slashes and other
  punctuation separate words, so ``UK-China`` is the two words ``UK`` and ``China``;
* apostrophes inside a word keep it whole (``don't``), and a possessive ``'s`` / ``’s`` is
  dropped (``China's`` reads as ``China``);
* an acronym written with periods reads as the letters alone (``U.K.`` reads as ``UK``);
  a period between digits stays inside the number (``3.5``), other periods separate words;
* ``norm`` is NFKC, case-folded, with diacritics folded (``Québec`` -> ``quebec``);
  ``exact`` is the same but keeps the case (for ``!Word``); ``stem`` is the word's *key*: its
  dictionary lemma in the article's language (``visits``, ``visited`` -> ``visit``; French
  ``visitait`` -> ``visiter``), diacritics folded. The lemma comes from simplemma's inflection
  dictionaries (en, fr, de, es, it, pt, nl), so a derived word keeps its own lemma
  (``executive`` is not ``execute``, ``Germanic`` not ``German``), which a suffix-stripping
  stemmer such as Snowball could not promise. Of the suppletive forms,
  the adjective's comparative forms ``better``, ``best``, ``worse``, ``worst`` are not joined
  to ``good``/``bad`` (they read as themselves); irregular verbs are (``went`` -> ``go``).
  Words with digits, and text in other languages, are keyed by their ``norm``.

The engine works on plain lists from the caches below rather than on :class:`Token`
objects, because building a few hundred objects per article would cost more than all the
matching: no word spans white space, so a text's words (and stems) are those of its
``text.split()`` chunks, each analysed once and then looked up; character spans are worked
out only for the words a match reports (:class:`SpanLocator`).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import TypeVar

from mypy_extensions import mypyc_attr
from simplemma.strategies import DictionaryLookupStrategy
from simplemma.strategies.dictionaries import DefaultDictionaryFactory, DictionaryFactory

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "SpanLocator",
    "Token",
    "chunk_keys",
    "exact_of",
    "fold",
    "form_key",
    "is_listed_plural",
    "is_name",
    "key_in",
    "language_of",
    "norm_of",
    "spans",
    "stem_of",
    "stem_of_norm",
    "tag",
    "tokenize",
    "untag",
    "use_dictionaries",
    "words",
]

# Han ideographs (and hiragana, which has no spaces either) are one word per character,
# the way Unicode word rules and Lucene's standard tokenizer treat them.
_IDEO_RANGES: tuple[tuple[int, int], ...] = (
    (0x3040, 0x309F),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3FFFF),
)


def _char_class(ranges: list[tuple[int, int]]) -> str:
    def esc(cp: int) -> str:
        return f"\\U{cp:08x}" if cp > 0xFFFF else f"\\u{cp:04x}"

    return "".join(esc(lo) if lo == hi else f"{esc(lo)}-{esc(hi)}" for lo, hi in ranges)


def _mark_ranges() -> list[tuple[int, int]]:
    """Combining marks of the Basic Multilingual Plane, as code point ranges."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x10000):
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return ranges


# Character classes are kept to the Basic Multilingual Plane: Python's regular expressions
# check such classes with a bitmap, and a class reaching beyond it is scanned range by range,
# which made tokenizing five times slower.
_M = _char_class(_mark_ranges())
_IDEO = _char_class(list(_IDEO_RANGES))
_IDEO_BMP = _char_class([r for r in _IDEO_RANGES if r[1] <= 0xFFFF])
_L = rf"[^\W_{_IDEO_BMP}]"  # a letter or digit that is not an ideograph
_APOS = "'\u2019\u02bc"
_WORD = rf"{_L}+(?:[{_M}\u200c\u200d]+{_L}*)*"  # letters, digits and the marks on them

_TOKEN_RE = re.compile(
    # an acronym with periods: U.K., U.S.A (single letters each followed by a period)
    rf"(?<!{_L})(?:[^\W\d_]\.)+[^\W\d_](?!{_L})\.?(?:[{_APOS}][sS](?!{_L}))?"
    # one ideograph (with any marks on it)
    rf"|[{_IDEO}][{_M}]*"
    # an ordinary word; apostrophes join letters, . and , join digits (3.5, 1,000)
    rf"|{_WORD}(?:(?:[{_APOS}]|(?<=\d)[.,](?=\d)){_WORD})*"
)
_POSSESSIVE_RE = re.compile(rf"[{_APOS}][sS]$")
_DIGIT_RE = re.compile(r"\d")

# Diacritics that fold away (Québec = Quebec): the combining diacritical-mark blocks only,
# so that marks carrying meaning in other scripts (Indic vowel signs) stay.
_FOLDED_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Letters whose diacritic is not a combining mark, and apostrophe variants.
_EXTRA_FOLD = str.maketrans(
    {
        "ł": "l",
        "Ł": "L",
        "ø": "o",
        "Ø": "O",
        "đ": "d",
        "Đ": "D",
        "ħ": "h",
        "Ħ": "H",
        "ı": "i",
        "ŀ": "l",
        "Ŀ": "L",
        "\u2019": "'",
        "\u02bc": "'",
    }
)


def fold(text: str) -> str:
    """Diacritics folded (Québec -> Quebec), apostrophes made plain."""
    return _fold(text)


def _fold(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    stripped = _FOLDED_MARKS.sub("", decomposed)
    return unicodedata.normalize("NFC", stripped).translate(_EXTRA_FOLD)


def _base(surface: str) -> str:
    """The word a surface form stands for: no possessive, no acronym periods."""
    base = _POSSESSIVE_RE.sub("", surface)
    if "." in base and not _DIGIT_RE.search(base):
        base = base.replace(".", "")
    return base


def _exact(surface: str) -> str:
    return _fold(unicodedata.normalize("NFKC", _base(surface)))


def _norm(surface: str) -> str:
    return _fold(unicodedata.normalize("NFKC", _base(surface)).casefold())


_V = TypeVar("_V")

# The languages whose inflections are known (simplemma's dictionaries, loaded lazily, one per
# language). An article whose language is not known reads in the index's default language
# (English unless configured, rules.index.compile_rules); one in another language keys its
# words by norm.
LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "pt", "nl")
DEFAULT_LANGUAGE = "en"
OTHER_LANGUAGE = ""  # any other language: words are keyed by their norm


def language_of(code: str | None) -> str:
    """The analysis language of an article's language code (None: unknown, read as English)."""
    if code is None or code == "":
        return DEFAULT_LANGUAGE
    code = code.lower()[:2]
    return code if code in LANGUAGES else OTHER_LANGUAGE


def _lower(surface: str) -> str:
    """NFKC and case-folded, diacritics kept: what the dictionaries are looked up with."""
    return unicodedata.normalize("NFKC", _base(surface)).casefold().replace("\u2019", "'")


# Dictionary look-ups only: simplemma's guessing strategies for words its dictionaries do not
# list (affix and compound decomposition, suffix rules) would join words a desk keeps apart
# and cost ten times as much per new word; an unlisted word (most names) is its own lemma.
# The dictionaries in their plain form (a hash table, about 30 MB and 0.8 s to load for
# English), each loaded when a word of its language is first looked up, so once per process
# and only for the languages seen: the memory-frugal form loads as slowly and scans a block
# per look-up (0.2 ms), which cost a 1,000-article `rules test` more than all its matching.
_DICTIONARY = DictionaryLookupStrategy(DefaultDictionaryFactory(cache_max_size=len(LANGUAGES)))


def use_dictionaries(factory: DictionaryFactory) -> None:
    """Look words up in ``factory``'s dictionaries (newswatch.lemmas loads them from a cache).

    Call it before the first word is analysed: keys worked out before stay in the caches.
    """
    global _DICTIONARY  # one strategy per process, chosen at start-up
    _DICTIONARY = DictionaryLookupStrategy(factory)


def _lemma(lower: str, lang: str) -> str:
    lemma = _DICTIONARY.get_lemma(lower, lang)
    return lower if lemma is None else str(lemma)


def _key(lower: str, lang: str) -> str:
    folded = _fold(lower)
    if lang == OTHER_LANGUAGE or not lower.isalpha():
        return sys.intern(folded)
    # the dictionary once: a lemma is never looked up again as a form (founding -> found
    # is right, found -> find would join founding to find)
    key = _fold(_lemma(lower, lang).casefold())
    if lower in _SUPPLETIVE_DEGREES.get(lang, ()):
        key = folded  # better is not the adjective good: the word stays itself
    # one object per key (visits and visited give the same "visit"), so dictionaries keyed
    # by keys, like a rule index's, find it by identity without reading the string
    return sys.intern(key)


# Comparatives and superlatives whose dictionary lemma is another word (better -> good):
# "better" and "best" are words of their own in news (best-selling, to better), so they are
# not joined to their adjective; irregular verbs (went -> go) are inflections and are.
_SUPPLETIVE_DEGREES: dict[str, frozenset[str]] = {
    "en": frozenset({"better", "best", "worse", "worst"}),
}


def is_listed_plural(plural: str, word: str, lang: str) -> bool:
    """Does the language's dictionary list ``plural`` as a form of the name ``word``?"""
    if lang == OTHER_LANGUAGE:
        return False
    return _DICTIONARY.get_lemma(plural, lang) == word


def _stem(surface: str) -> str:
    return KEY_IN[DEFAULT_LANGUAGE][LOWER[surface]]


class BoundedCache(dict[str, _V]):
    """surface word -> analysed form, computed once; cleared when it grows too big.

    A monitor sees an endless stream of new names and numbers, so every cache is bounded
    (200,000 entries, some tens of megabytes); the common words come back within seconds.
    """

    __slots__ = ("_compute", "_limit")

    def __init__(self, compute: Callable[[str], _V], limit: int = 200_000) -> None:
        super().__init__()
        self._compute = compute
        self._limit = limit

    def __missing__(self, key: str) -> _V:
        if len(self) >= self._limit:
            self.clear()
        value = self._compute(key)
        self[key] = value
        return value


def _chunk_words(chunk: str) -> tuple[str, ...]:
    return tuple(_TOKEN_RE.findall(chunk))


# Words never contain white space, so a text's words are its white-space-separated chunks'
# words. News repeats its chunks ("the", "China's,"), so caching per chunk makes tokenizing
# an article mostly dictionary look-ups, and the words come out as the same string objects
# each time, with their hashes already computed for the look-ups that follow.
CHUNK_WORDS: BoundedCache[tuple[str, ...]] = BoundedCache(_chunk_words)
NORM = BoundedCache(_norm)
EXACT = BoundedCache(_exact)
LOWER = BoundedCache(_lower)
# language -> (lower-case word -> key); "" is any other language
KEY_IN: dict[str, BoundedCache[str]] = {
    lang: BoundedCache(functools.partial(_key, lang=lang)) for lang in (*LANGUAGES, OTHER_LANGUAGE)
}
STEM_OF_NORM = KEY_IN[DEFAULT_LANGUAGE]
STEM = BoundedCache(_stem)


def derived_cache(compute: Callable[[str], _V]) -> dict[str, _V]:
    """A bounded cache of something worked out from a word or chunk (``cache[key]``)."""
    return BoundedCache(compute)


def _chunk_keys(chunk: str, lang: str) -> tuple[str, ...]:
    keys = KEY_IN[lang]
    return tuple(keys[LOWER[word]] for word in CHUNK_WORDS[chunk])


# language -> (chunk -> the keys of its words)
CHUNK_KEYS_IN: dict[str, BoundedCache[tuple[str, ...]]] = {
    lang: BoundedCache(functools.partial(_chunk_keys, lang=lang))
    for lang in (*LANGUAGES, OTHER_LANGUAGE)
}
CHUNK_STEMS = CHUNK_KEYS_IN[DEFAULT_LANGUAGE]


def chunk_keys(lang: str) -> dict[str, tuple[str, ...]]:
    """chunk -> its words' keys in ``lang`` (an analysis language, see language_of)."""
    return CHUNK_KEYS_IN[lang]


def key_in(surface: str, lang: str) -> str:
    """The key of a word in an analysis language: what a query word is compared by."""
    return KEY_IN[lang][LOWER[surface]]


def form_key(surface: str) -> str:
    """A word's own form as a key (folded, not lemmatised): the key its lemma's forms have
    when the word itself is a lemma."""
    return KEY_IN[OTHER_LANGUAGE][LOWER[surface]]


def is_name(surface: str) -> bool:
    """A query word written with a capital letter is a name (or a demonym)."""
    return surface[:1].isupper()


# An element value compared by its form (a phrase word, !Word, a name) carries, when it is
# not plain English, the language its key is worked out in: TAG + lang (2 letters) + text,
# text lower-case with its diacritics (or exact, for !Word), so that the key can be looked
# up in that language's dictionary; the form compared is text with diacritics folded.
TAG = "\x1f"


def tag(lang: str, text: str) -> str:
    """An element value for a word compared by form, keyed in ``lang`` (see untag)."""
    return f"{TAG}{lang or '--'}{text}"


def untag(value: str) -> tuple[str, str]:
    """(analysis language, text) of an element value; plain values are English forms."""
    if value[:1] != TAG:
        return DEFAULT_LANGUAGE, value
    lang = value[1:3]
    return ("" if lang == "--" else lang), value[3:]


def words(text: str) -> list[str]:
    """The surface form of every word in ``text``, in order (position = list index)."""
    return list(chain.from_iterable(map(CHUNK_WORDS.__getitem__, text.split())))


def spans(text: str) -> list[tuple[int, int]]:
    """Character offsets of every word in ``text``, aligned with :func:`words`."""
    return list(map(re.Match.span, _TOKEN_RE.finditer(text)))


_CHUNK_RE = re.compile(r"\S+")  # the same chunks as str.split()


def _chunk_spans(chunk: str) -> tuple[tuple[int, int], ...]:
    return tuple(map(re.Match.span, _TOKEN_RE.finditer(chunk)))


CHUNK_SPANS: BoundedCache[tuple[tuple[int, int], ...]] = BoundedCache(_chunk_spans)


class SpanLocator:
    """Character spans of chosen word positions, without tokenizing the whole text again.

    A match needs the spans of a handful of words; finding every word's span costs more than
    finding the white-space chunks (a trivial pattern) and the cached spans inside the chunk.
    """

    __slots__ = ("_before", "_chunks", "_ends", "_starts")
    _ends: list[int] | None
    _starts: list[int] | None

    def __init__(
        self,
        text: str,
        chunks: list[str] | None = None,
        sizes: list[int] | None = None,
        *,
        one_word: bool = False,
    ) -> None:
        """``chunks``, if given, must be ``text.split()``; ``sizes`` their numbers of words,
        unless the caller knows each chunk is ``one_word``."""
        self._chunks = chunks = text.split() if chunks is None else chunks
        # characters in the chunks before each chunk
        self._before = before = list(accumulate(map(len, chunks), initial=0))
        if before[-1] + len(chunks) - 1 == len(text):
            # one white-space character between chunks and none around them, as normalized
            # article text always has: chunk i starts at before[i] + i, no regex scan
            # (which took longer than everything else a match needs)
            self._starts = None
        else:
            self._starts = list(map(re.Match.start, _CHUNK_RE.finditer(text)))
        # words up to and including each chunk; None when every chunk is one word (the
        # usual case), where a word's position is its chunk's
        self._ends = None
        if not one_word:
            if sizes is None:
                sizes = list(map(len, map(CHUNK_WORDS.__getitem__, chunks)))
            if sizes.count(1) != len(sizes):
                self._ends = list(accumulate(sizes))

    def _locate(self, position: int) -> tuple[int, int]:
        """The chunk holding the word at ``position``, and the word's place in it."""
        ends = self._ends
        if ends is None:
            return position, 0
        chunk = bisect_right(ends, position)
        return chunk, position - (ends[chunk - 1] if chunk else 0)

    def word(self, position: int) -> str:
        """The surface form of the word at ``position``."""
        chunk, offset = self._locate(position)
        return CHUNK_WORDS[self._chunks[chunk]][offset]

    def of(self, positions: Iterable[int]) -> tuple[tuple[int, int], ...]:
        """The spans of the words at these positions (one call for a term's positions)."""
        chunks, starts, before, locate = self._chunks, self._starts, self._before, self._locate
        found: list[tuple[int, int]] = []
        if starts is None and self._ends is None:  # the usual case: a chunk is a word
            for position in positions:
                text = chunks[position]
                base = before[position] + position
                if text.isalnum() and text.isascii():  # the word is the whole chunk
                    found.append((base, base + len(text)))
                else:  # punctuation around it: where in the chunk, from the cache
                    start, end = CHUNK_SPANS[text][0]
                    found.append((base + start, base + end))
            return tuple(found)
        for position in positions:
            chunk, offset = locate(position)
            start, end = CHUNK_SPANS[chunks[chunk]][offset]
            base = before[chunk] + chunk if starts is None else starts[chunk]
            found.append((base + start, base + end))
        return tuple(found)

    def __getitem__(self, position: int) -> tuple[int, int]:
        return self.of((position,))[0]


def norm_of(surface: str) -> str:
    """NFKC + casefold + diacritics folded, without possessive or acronym periods."""
    return NORM[surface]


def exact_of(surface: str) -> str:
    """Like :func:`norm_of` but keeping the case, for case-sensitive ``!Word`` terms."""
    return EXACT[surface]


def stem_of(surface: str) -> str:
    """The word's key in English (its lemma, diacritics folded)."""
    return STEM[surface]


def stem_of_norm(norm: str) -> str:
    """The English key of a word already normalised: equal norms always give equal keys."""
    return STEM_OF_NORM[norm]


@mypyc_attr(native_class=False)  # a Python class even compiled: pickles, compares
@dataclass(frozen=True, slots=True)
class Token:
    """One word of a text, with the forms the matcher compares."""

    text: str  # original surface form, exactly text[start:end]
    norm: str  # NFKC + casefold + diacritics folded
    stem: str  # the English key: the lemma of norm
    position: int  # word index within the field (0-based)
    start: int  # char offset in the field text
    end: int
    exact: str = ""  # like norm but case kept (for !Word)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into words with their positions and analysed forms."""
    result: list[Token] = []
    for position, match in enumerate(_TOKEN_RE.finditer(text)):
        surface = match.group()
        result.append(
            Token(
                text=surface,
                norm=NORM[surface],
                stem=STEM[surface],
                position=position,
                start=match.start(),
                end=match.end(),
                exact=EXACT[surface],
            )
        )
    return result
