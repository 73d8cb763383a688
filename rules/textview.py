"""One field of an article as matching sees it: its words' stems, positions and spans.

Everything is worked out on demand and kept for the article: most rules ask about a few
stems, so a field's stems come from one cache look-up per white-space chunk, the positions
of the stems candidates ask for from one pass (look_up), and the words themselves and their
character spans only where a phrase, a wildcard or an explanation needs them.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import chain, compress
from typing import TypeAlias

from rules import analyze
from rules.keys import PREFIX_KEY_SIZE, PREFIX_MARK
from rules.syntax import EXACT, NORM, PREFIX, STEM, Pattern

__all__ = ["FieldView", "Occurrence"]

Occurrence: TypeAlias = tuple[int, int]  # first and last word position

_NO_POSITIONS: list[int] = []  # shared, never mutated
_SHORT_FIELD = 48  # up to this many words, positions are found by scanning, with no dict
_GROUPED_AFTER = 16  # wildcards looked up in a field before its words are grouped by key


# chunk -> the wildcard key (the first three, or four, letters) of each of its words
_CHUNK_PREFIX3 = analyze.derived_cache(
    lambda c: tuple(PREFIX_MARK + analyze.norm_of(w)[:3] for w in analyze.CHUNK_WORDS[c])
)
_CHUNK_PREFIX4 = analyze.derived_cache(
    lambda c: tuple(
        PREFIX_MARK + analyze.norm_of(w)[:PREFIX_KEY_SIZE] for w in analyze.CHUNK_WORDS[c]
    )
)

# chunk -> the norm of each of its words
_CHUNK_NORMS = analyze.derived_cache(
    lambda c: tuple(analyze.norm_of(w) for w in analyze.CHUNK_WORDS[c])
)


def _form_matches(form: str, value: str) -> bool:
    """Does a word's norm (or exact form) equal a tagged element value's (rules.analyze.tag)?"""
    return value[:1] == analyze.TAG and form == _FOLDED[analyze.untag(value)[1]]


# a tagged value's text, diacritics folded as norms are
_FOLDED = analyze.derived_cache(analyze.fold)


class FieldView:
    """One field's words, with the analysed forms and position look-ups built on demand."""

    __slots__ = (
        "_first",
        "_grouped",
        "_last",
        "_looked_up",
        "_lowered",
        "_norm_order",
        "_per_chunk",
        "_prefixes",
        "_scanned",
        "_single",
        "_sorted_norms",
        "_spaced",
        "_spans",
        "chunks",
        "stems",
        "text",
    )

    def __init__(self, text: str, lang: str = analyze.DEFAULT_LANGUAGE) -> None:
        """``lang``: the analysis language (rules.analyze.language_of) the words are keyed in."""
        self.text = text
        # one cache look-up per white-space chunk gives the keys (lemmas in the article's
        # language); the words themselves are only needed for phrases and wildcards, and
        # then only at a few positions
        self.chunks = text.split()
        self._per_chunk = list(map(analyze.chunk_keys(lang).__getitem__, self.chunks))
        self.stems: list[str] = list(chain.from_iterable(self._per_chunk))
        self._prefixes: dict[int, list[str]] = {}  # wildcard key size -> key of each word
        self._first: dict[str, int] = {}  # see positions()
        self._grouped: dict[str, list[int]] = {}  # see look_up()
        self._looked_up: set[str] | frozenset[str] = frozenset()
        self._last: dict[str, int] | None = None
        self._lowered: str | None = None  # see absent()
        self._sorted_norms: list[str] | None = None  # see _grouped_prefix()
        self._norm_order: list[int] = _NO_POSITIONS  # the word position of each of those
        self._scanned: dict[str, list[int]] = {}  # wildcard look-ups
        self._spans: analyze.SpanLocator | None = None
        self._single: bool | None = None  # see one_word_chunks()
        self._spaced: bool | None = None  # see _single_spaced()

    def one_word_chunks(self) -> bool:
        """Is every chunk one word (the usual case, where a word's position is its chunk's)?"""
        if self._single is None:
            # as many words as chunks, and no chunk without a word (a dash) to make up for
            # one with two (UK-China); ``in`` is the quickest C-level pass over the chunks
            self._single = len(self.stems) == len(self.chunks) and () not in self._per_chunk
        return self._single

    def word(self, position: int) -> str:
        """The surface form of the word at ``position``."""
        if self.one_word_chunks():
            return analyze.CHUNK_WORDS[self.chunks[position]][0]
        return self.spans().word(position)

    def look_up(self, wanted: set[str]) -> None:
        """Find the positions of all these stems in one pass (see ArticleView.look_up).

        The candidates of a large index ask for the positions of dozens of stems; one pass in
        C marks the words with any of them, and only those words are grouped in Python.
        """
        stems = self.stems
        grouped = self._grouped
        for at in compress(range(len(stems)), map(wanted.__contains__, stems)):
            found = grouped.get(stems[at])
            if found is None:
                grouped[stems[at]] = [at]
            else:
                found.append(at)
        self._looked_up = wanted

    def positions(self, stem: str) -> list[int]:
        """Positions of the words with this stem."""
        found = self._grouped.get(stem)
        if found is not None:
            return found
        if stem in self._looked_up:
            return _NO_POSITIONS
        stems = self.stems
        if len(stems) <= _SHORT_FIELD:
            if stem not in stems:
                return _NO_POSITIONS
            at = stems.index(stem)
            end = len(stems) - 1 - stems[::-1].index(stem)
        else:
            last = self._last
            if last is None:
                # where each stem occurs first and last, built in C; any between are found
                # by list.index from the first on (most stems asked about occur once or
                # twice, and scanning up to the first cost more than the rest of a lookup)
                numbers = range(len(stems))
                last = self._last = dict(zip(stems, numbers, strict=True))
                self._first = dict(zip(reversed(stems), reversed(numbers), strict=True))
            found_end = last.get(stem)
            if found_end is None:
                return _NO_POSITIONS
            at, end = self._first[stem], found_end
        found = [at]
        while at != end:
            at = stems.index(stem, at + 1)
            found.append(at)
        return found

    def absent(self, value: str) -> bool:
        """Surely no word's norm starts with ``value``? (a cheap test before a wildcard scan)

        For ASCII text a word's norm is its lower-case form without acronym periods and
        maybe without a final ``'s``, so it starts with ``value`` only if the text, lower-cased
        and without periods, contains ``value``.
        """
        if "." in value or not value.isascii():
            return False
        lowered = self._lowered
        if lowered is None:
            text = self.text
            lowered = self._lowered = text.lower().replace(".", "") if text.isascii() else ""
        return bool(lowered) and value not in lowered

    def prefix_marks(self, size: int) -> list[str]:
        """Each word's wildcard key of ``size`` letters (fewer if the word is shorter)."""
        marks = self._prefixes.get(size)
        if marks is None:
            per_chunk = _CHUNK_PREFIX3 if size == 3 else _CHUNK_PREFIX4
            marks = list(chain.from_iterable(map(per_chunk.__getitem__, self.chunks)))
            self._prefixes[size] = marks
        return marks

    def prefixed(self, value: str) -> list[int]:
        """Positions of the words whose norm starts with ``value`` (a wildcard)."""
        found = self._scanned.get(value)
        if found is None:
            if len(self._scanned) >= _GROUPED_AFTER and len(value) >= 3:
                found = self._grouped_prefix(value)
            elif self.absent(value):
                found = []
            elif self._lowered and "." not in value and value.isascii() and self._single_spaced():
                found = self._search_prefix(value)
            else:
                found = self._scan_prefix(value)
            self._scanned[value] = found
        return found

    def _grouped_prefix(self, value: str) -> list[int]:
        """Like :meth:`_scan_prefix`, from the field's norms in sorted order.

        Used after ``_GROUPED_AFTER`` wildcards: the norms are sorted once per field (in C),
        then the words whose norm starts with a wildcard are one run of them, found by a
        binary search. With 100,000 dense rules an article has hundreds of wildcard
        look-ups; grouping the words by their first letters, then checking each word of
        a group on its norm, was a sixth of the matching time. For the few of a smaller
        index, working out every word's norm would cost more (the first time a word is
        seen above all).
        """
        ordered = self._sorted_norms
        if ordered is None:
            norms = list(chain.from_iterable(map(_CHUNK_NORMS.__getitem__, self.chunks)))
            self._norm_order = sorted(range(len(norms)), key=norms.__getitem__)
            ordered = self._sorted_norms = list(map(norms.__getitem__, self._norm_order))
        # the norms starting with ``value`` sort together, right from where it would go
        start = end = bisect_left(ordered, value)
        size = len(ordered)
        while end < size and ordered[end].startswith(value):
            end += 1
        if end - start < 2:
            return self._norm_order[start:end]
        return sorted(self._norm_order[start:end])

    def _single_spaced(self) -> bool:
        """Are the chunks separated by exactly one space each (normalized article text)?"""
        if self._spaced is None:
            self._spaced = " ".join(self.chunks) == self.text
        return self._spaced

    def _search_prefix(self, value: str) -> list[int]:
        """Like :meth:`_scan_prefix`, from the few places the text contains ``value``.

        Only for ASCII text with single spaces, once :meth:`absent` has made ``_lowered``:
        a word whose norm starts with ``value`` lies in a chunk whose lower-cased form
        without periods contains ``value`` (see absent()), and removing periods keeps the
        spaces, so the spaces before a place give its chunk. Each such chunk's words are
        then checked on their norms, exactly as the scan does; building every word's
        wildcard key, as the scan must, cost more than the rest of a rule's evaluation.
        """
        lowered = self._lowered
        assert lowered
        chunks, per_chunk, norms = self.chunks, self._per_chunk, analyze.NORM
        found: list[int] = []
        chunk, checked = 0, -1
        counted = 0  # spaces are counted into chunk up to this offset
        at = lowered.find(value)
        while at >= 0:
            chunk += lowered.count(" ", counted, at)
            counted = at
            if chunk != checked:
                checked = chunk
                first = sum(map(len, per_chunk[:chunk]))  # the chunk's first word position
                for offset, word in enumerate(analyze.CHUNK_WORDS[chunks[chunk]]):
                    if norms[word].startswith(value):
                        found.append(first + offset)
            at = lowered.find(value, at + 1)
        return found

    def _scan_prefix(self, value: str) -> list[int]:
        # the words sharing the wildcard's first letters (a C scan over each word's
        # wildcard key), then, for a longer wildcard, the rest of its letters
        size = min(len(value), PREFIX_KEY_SIZE)
        marks = self.prefix_marks(size)
        mark = PREFIX_MARK + value[:size]
        found: list[int] = []
        i = -1
        try:
            while True:
                i = marks.index(mark, i + 1)
                found.append(i)
        except ValueError:
            pass
        if len(value) > size and found:
            norms, word = analyze.NORM, self.word
            found = [i for i in found if norms[word(i)].startswith(value)]
        return found

    def find(self, pattern: Pattern, stems_wanted: tuple[str | None, ...]) -> list[Occurrence]:
        """Where the words of ``pattern`` occur in sequence.

        ``stems_wanted`` holds each element's stem (None for a wildcard): a phrase is looked
        for by its words' stems first, which are at hand, and only where they all line up
        are the words' exact forms compared.
        """
        mode, value = pattern[0]
        first = stems_wanted[0]
        starts = self.prefixed(value) if first is None else self.positions(first)
        last = len(pattern) - 1
        if not last and mode in (STEM, PREFIX):
            return [(p, p) for p in starts]
        size = len(self.stems)
        stems = self.stems
        found: list[Occurrence] = []
        for p in starts:
            if p + last >= size:
                break
            for offset in range(1, last + 1):
                wanted = stems_wanted[offset]
                if wanted is not None and stems[p + offset] != wanted:
                    break
            else:
                if self._forms_match(pattern, p):
                    found.append((p, p + last))
        return found

    def _forms_match(self, pattern: Pattern, start: int) -> bool:
        """Do the words from ``start`` on have the exact (unstemmed) forms asked for?"""
        for offset, (mode, value) in enumerate(pattern):
            if mode == STEM or (mode == PREFIX and offset == 0):
                continue  # already checked
            word = self.word(start + offset)
            if mode == NORM:
                ok = analyze.NORM[word] == value or _form_matches(analyze.NORM[word], value)
            elif mode == EXACT:
                ok = analyze.EXACT[word] == value or _form_matches(analyze.EXACT[word], value)
            else:
                ok = analyze.NORM[word].startswith(value)
            if not ok:
                return False
        return True

    def spans(self) -> analyze.SpanLocator:
        """Character spans of word positions (``spans()[p]``), worked out on demand."""
        if self._spans is None:
            if self.one_word_chunks():
                self._spans = analyze.SpanLocator(self.text, self.chunks, one_word=True)
            else:
                sizes = list(map(len, self._per_chunk))
                self._spans = analyze.SpanLocator(self.text, self.chunks, sizes)
        return self._spans
