"""Words -> elements: a query word, phrase or list entry analysed as article text is.

Words are turned into elements here, with the same analysis as article text (rules.analyze),
so the engine only ever compares analysed forms, keyed in the one language the rules are being
compiled for (rules.keys spells the keys).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mypy_extensions import mypyc_attr

from rules import analyze
from rules.syntax import (
    CLOSE_QUOTES,
    EXACT,
    NORM,
    OPEN_QUOTES,
    PREFIX,
    STEM,
    Element,
    Mode,
    Pattern,
)

__all__ = ["MIN_PREFIX", "ListTable", "WordError", "phrase_patterns", "word_patterns"]

MIN_PREFIX = 3  # letters a wildcard needs before its '*'


class WordError(Exception):
    """A word that cannot be turned into elements; the caller adds the location."""


@functools.lru_cache(maxsize=1 << 16)  # desks reuse the same words in thousands of rules
def word_patterns(text: str, exact: bool, lang: str) -> tuple[Pattern, ...]:
    """A bare word's patterns in one analysis language (rules.analyze.language_of).

    An article in a language is matched only through that language's keys (French
    ``visites`` -> ``visiter`` in French articles, English ``visits`` -> ``visit`` in English
    ones), so the rules are compiled per language (rules.index) and a word never reaches
    an article through another language's dictionary (Dutch ``loot`` -> ``lot``).
    """
    return _word_elements(text, exact, lang)


@functools.lru_cache(maxsize=1 << 16)
def phrase_patterns(text: str, exact: bool, lang: str) -> tuple[Pattern, ...]:
    """A phrase's patterns in one analysis language."""
    return _phrase_elements(text, exact, lang)


def _word_elements(text: str, exact: bool, lang: str) -> tuple[Pattern, ...]:
    """A bare word (maybe several analysed words, maybe a trailing ``*``) keyed in ``lang``.

    A capitalised word is a name or a demonym, compared by its form: the word (its
    possessive reads as the word) or, for a single word, its plural in -s where the
    language's dictionary lists one (``German``: German, German's, Germans; never Germanic;
    ``France`` never "francs" or "Frances").
    """
    wildcard = text.endswith("*")
    base = text[:-1] if wildcard else text
    if "*" in base:
        raise WordError("'*' is only allowed at the end of a word")
    matches = analyze.spans(base)
    if not matches:
        if wildcard:
            raise WordError(f"a wildcard needs at least {MIN_PREFIX} letters before '*'")
        raise WordError(f"{text!r} has no letters or digits to match")
    surfaces = [base[s:e] for s, e in matches]
    if wildcard:
        if exact:
            raise WordError("'!' (case-sensitive) cannot be combined with a '*' wildcard")
        last_end = matches[-1][1]
        if last_end != len(base) or len(analyze.norm_of(surfaces[-1])) < MIN_PREFIX:
            raise WordError(f"a wildcard needs at least {MIN_PREFIX} letters before '*'")
        head = [_plain_element(w, lang) for w in surfaces[:-1]]
        return ((*head, (PREFIX, analyze.norm_of(surfaces[-1]))),)
    if exact:
        return (tuple(_form_element(EXACT, w, lang) for w in surfaces),)
    word = tuple(_plain_element(w, lang) for w in surfaces)
    name = surfaces[0]
    if len(surfaces) == 1 and analyze.is_name(name):
        plural = name + "s"
        if analyze.is_listed_plural(plural, name, lang):  # Germans, not Frances
            return (word, (_form_element(NORM, plural, lang),))
    if len(surfaces) == 1 and word[0][0] == STEM:
        # The dictionary is applied once on each side: a text word's key is its lemma, never
        # the lemma's lemma (founding -> found, not -> find). A query word that is itself
        # the lemma of other forms but also a form of another lemma (lay: laid -> lay, and
        # lay -> lie) matches both families: its lemma's forms and its own.
        own = analyze.form_key(name)
        if own != word[0][1] and own.isalpha():
            return (word, ((STEM, own),))
    return (word,)


def _plain_element(surface: str, lang: str) -> Element:
    """A word with its inflections (its lemma's key), or a name (its form)."""
    if analyze.is_name(surface):
        return _form_element(NORM, surface, lang)
    return (STEM, analyze.key_in(surface, lang))


def _form_element(mode: Mode, surface: str, lang: str) -> Element:
    """A word compared by its form (phrase word, ``!Word``), keyed in ``lang``."""
    form = analyze.exact_of(surface) if mode == EXACT else analyze.norm_of(surface)
    if lang == analyze.DEFAULT_LANGUAGE:
        return (mode, form)
    text = analyze.exact_of(surface) if mode == EXACT else analyze.LOWER[surface]
    return (mode, analyze.tag(lang, text))


def _phrase_elements(text: str, exact: bool, lang: str) -> tuple[Pattern, ...]:
    """The words of a phrase, not lemmatised; a word ending in ``*`` is a prefix."""
    matches = analyze.spans(text)
    if not matches:
        raise WordError("empty phrase")
    elements: list[Element] = []
    for start, end in matches:
        surface = text[start:end]
        if text.startswith("*", end):
            if exact:
                raise WordError("'!' (case-sensitive) cannot be combined with a '*' wildcard")
            if len(analyze.norm_of(surface)) < MIN_PREFIX:
                raise WordError(f"a wildcard needs at least {MIN_PREFIX} letters before '*'")
            elements.append((PREFIX, analyze.norm_of(surface)))
        else:
            elements.append(_form_element(EXACT if exact else NORM, surface, lang))
    return (tuple(elements),)


def _entry_patterns(entry: str, lang: str) -> tuple[Pattern, ...]:
    """One ``@list`` entry: a word, ``"a phrase"``, ``!Word``, ``brit*``; several words = phrase.

    In YAML ``[UK, "United Kingdom"]`` the quotes are YAML's and are gone by the time the
    entry reaches us, so an entry with spaces is read as the phrase it obviously is.
    """
    text = entry.strip()
    exact = text.startswith("!")
    if exact:
        text = text[1:].strip()
    if len(text) >= 2 and text[0] in OPEN_QUOTES and text[-1] in CLOSE_QUOTES:
        return phrase_patterns(text[1:-1], exact, lang)
    if not text:
        raise WordError("empty entry")
    if any(ch.isspace() for ch in text):
        return phrase_patterns(text, exact, lang)
    return word_patterns(text, exact, lang)


@mypyc_attr(native_class=False)  # a Python class even compiled: pickles, compares
@dataclass
class ListTable:
    """Named lists, each entry analysed once however many rules use the list."""

    lists: Mapping[str, Sequence[str]]
    lang: str = analyze.DEFAULT_LANGUAGE  # the analysis language the entries are keyed in
    _cache: dict[str, tuple[tuple[Pattern, ...], list[str]]] = field(default_factory=dict)

    def resolve(self, name: str) -> tuple[tuple[Pattern, ...], list[str]] | None:
        """The list's patterns and the problems with its entries; None if no such list."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        if name not in self.lists:
            return None
        entries = self.lists[name]
        if isinstance(entries, str):  # a lone string is one entry, not a list of letters
            entries = [entries]
        patterns: list[Pattern] = []
        problems: list[str] = []
        for entry in entries:
            if not isinstance(entry, str):
                problems.append(f"list '{name}' entry {entry!r} is not text")
                continue
            try:
                entry_patterns = _entry_patterns(entry, self.lang)
            except WordError as exc:
                problems.append(f"list '{name}' entry {entry!r}: {exc}")
                continue
            patterns.extend(p for p in entry_patterns if p not in patterns)
        if not patterns and not problems:
            problems.append(f"list '{name}' is empty")
        result = (tuple(patterns), problems)
        self._cache[name] = result
        return result
