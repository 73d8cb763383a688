"""Many rules compiled into one index; an article is matched against the few rules it can hit.

How matching stays independent of the number of rules (the way Lucene's Monitor and the
Elasticsearch percolator pre-select queries):

1. At compile time every rule is reduced to the *keys* it requires: one or more
   alternatives, each a set of stems (``UK AND (China OR Beijing)`` -> ``{uk, china}`` or
   ``{uk, beij}``). Phrases, ``!Word`` and NEAR require their words' stems too, a wildcard
   its first four letters (three if it has three), a field scope marks its keys with the
   field. NOT requires nothing, which is why a rule that only negates is an error: it could
   not be filed anywhere.
2. Each alternative is filed under its rarest key (seldom seen in sample articles when
   some are given; else not a common English word, used by few rules, long), with its
   second rarest beside it. Wildcard keys count only for an alternative that has nothing
   else: working out every word's first letters for every article cost more than the rest
   of pre-selection, so elsewhere the candidate's evaluation checks the wildcard.
3. For an article, one pass over its words gives the set of keys present. The alternatives
   filed under those keys whose other keys are all present name the *candidates*
   (rules/preselect.py: C-level passes over tuples, or numpy arrays for large indexes);
   only candidates are evaluated.
4. For most rules (plain words combined with AND/OR, plain words negated) the keys decide
   the rule exactly, so a candidate is a match unless a negated word is present. The others
   (phrases, NEAR, wildcards, ``!Word``, scoped fields) are evaluated on word positions;
   the positions every candidate may ask for are found in one pass per field.
5. Only matching rules pay for the explanation (positions and character spans per term and
   field), and a term's explanation is built once per article, however many rules use it.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, compress
from operator import itemgetter
from sys import intern
from typing import Any, Final, NamedTuple, TypeAlias, TypeVar

from mypy_extensions import mypyc_attr

from rules import analyze
from rules.preselect import Anchors, pre_selection
from rules.query import (
    DEFAULT_FIELDS,
    EXACT,
    FIELDS,
    NORM,
    PREFIX,
    STEM,
    And,
    ListTable,
    Near,
    Node,
    Not,
    Or,
    Pattern,
    QuerySyntaxError,
    Term,
    parse_all,
)

__all__ = [
    "Document",
    "Hit",
    "RuleErrors",
    "RuleIndex",
    "RuleSpec",
    "TermHit",
    "check_rules",
    "compile_rules",
]


@mypyc_attr(native_class=False)  # a Python class even compiled: pickles, compares
@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    query: str


@mypyc_attr(native_class=False)  # a Python class even compiled: pickles, compares
@dataclass(frozen=True, slots=True)
class Document:
    """The text fields of an article as the rules see them."""

    title: str = ""
    summary: str = ""
    body: str = ""
    source: str = ""  # outlet name and/or domain, e.g. "Harbour Gazette harbourgazette.example"


# TermHit and Hit are named tuples, immutable and hashable like frozen dataclasses: a
# 100,000-rule index makes about thirty per article, and a frozen dataclass's __init__ took
# three times as long (4% of the matching time at 100,000 rules).
class TermHit(NamedTuple):
    """Where one query term fired in one field."""

    term: str  # the query term as the user wrote it: visit, "United Kingdom", @uk
    field: str  # title | summary | body | source
    positions: tuple[int, ...]  # word positions in that field (every word of a phrase)
    spans: tuple[tuple[int, int], ...]  # (start, end) char offsets, one per occurrence


class Hit(NamedTuple):
    rule_id: str
    terms: tuple[TermHit, ...]  # only terms that fired in positive (non-negated) parts

    @property
    def matched_terms(self) -> list[str]:
        """Distinct terms in order of first appearance."""
        return list(dict.fromkeys(t.term for t in self.terms))


class RuleErrors(ValueError):
    """Every problem in a set of rules, so a user fixes them all in one go."""

    def __init__(self, errors: Sequence[QuerySyntaxError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(e.render() for e in self.errors))


# --------------------------------------------------------------------------- compiled form

# Opcodes of the compiled rule trees (plain tuples: cheaper to walk than objects).
_LEAF, _AND, _OR, _NOT, _NEAR = 0, 1, 2, 3, 4
Code: TypeAlias = tuple[Any, ...]  # (opcode, operands...)
Occurrence: TypeAlias = tuple[int, int]  # first and last word position
Provenance: TypeAlias = tuple[tuple[int, int, int], ...]  # (local leaf, first, last)
NearOcc: TypeAlias = tuple[int, int, Provenance]
# the leaves whose terms explain a match, in query order, each if present (an OR's terms
# may not be); a leaf is one term text in one set of fields, so its explanation in an
# article is the same for every rule
Plan: TypeAlias = tuple["_Leaf", ...]

_PREFIX_MARK = "\x00"  # wildcard keys: "\x00" + the first three letters
# Keys of a field-scoped term carry the field's mark; unmarked keys are the default fields'.
_FIELD_MARK = {"source": "\x01", "title": "\x02", "summary": "\x03", "body": "\x04"}
_MARKS = "".join(_FIELD_MARK.values())
_MAX_ALTERNATIVES = 32  # cap on the AND cross product when computing required keys

# Words so common in news that they make poor anchors even when long enough.
_COMMON_WORDS = """
    the of and to in a is that for it on was with he as at by be this have from or had not
    are but his they an were she which you one all their has been there would will its who
    her more if can about when so what up out no said than other into them some could time
    these two may then do first any my now new such like our over man only year years also
    after people most made many before must through back where much your way well down should
    because each just those how too little state good very make world still own see men work
    long get here between both life being under never day same another know while last might
    us great old off come since against go came right used take three says told report
    reported government minister president week month today yesterday news"""
_COMMON = frozenset(analyze.stem_of(w) for w in _COMMON_WORDS.split())


# _Leaf and _Rule are plain classes for the reason given at rules.query.Term; __reduce__
# pickles them the same way compiled or not.


@mypyc_attr(acyclic=True)  # compiled, the garbage collector need not track them
class _Leaf:
    """A distinct (term text, fields) pair; shared by every rule that uses it."""

    __slots__ = ("fields", "keys", "looked_up", "needs", "patterns", "stem", "stems_wanted", "text")

    def __init__(
        self,
        text: str,
        patterns: tuple[Pattern, ...],
        fields: tuple[str, ...],
        needs: tuple[tuple[str, ...], ...],
        stem: str | None,
        keys: tuple[str, ...] | None,
        stems_wanted: tuple[tuple[str | None, ...], ...],
        looked_up: tuple[str, ...],
    ) -> None:
        self.text: Final = text  # the term as written: visit, "United Kingdom", @uk
        self.patterns: Final = patterns
        self.fields: Final = fields
        # Key sets are kept as tuples: a third of a frozenset's memory, no work for the
        # garbage collector, and set.issuperset / set.isdisjoint take them as they are.
        # keys one pattern needs present, wildcard keys left out (a quick reject)
        self.needs: Final = needs
        self.stem: Final = stem  # the stem, when the leaf is one plain word
        self.keys: Final = keys  # plain words whose presence the article's keys decide
        self.stems_wanted: Final = stems_wanted  # per pattern: each word's stem
        # the stems whose positions evaluating or explaining this leaf looks up (each
        # pattern's first word, unless a wildcard)
        self.looked_up: Final = looked_up

    def __reduce__(self) -> tuple[type[_Leaf], tuple[object, ...]]:
        return _Leaf, (
            self.text,
            self.patterns,
            self.fields,
            self.needs,
            self.stem,
            self.keys,
            self.stems_wanted,
            self.looked_up,
        )


@mypyc_attr(acyclic=True)
class _Rule:
    __slots__ = ("code", "forbidden", "id", "leaves", "looked_up", "plan")

    def __init__(
        self,
        rule_id: str,
        code: Code,
        leaves: tuple[_Leaf, ...],
        forbidden: tuple[str, ...] | None,
        plan: Plan | None,
        looked_up: tuple[str, ...],
    ) -> None:
        self.id: Final = rule_id
        self.code: Final = code
        # the rule's terms, by their place in it: the code names them by that place, so
        # rules of one shape share it
        self.leaves: Final = leaves
        # Set when pre-selection decides the positive part exactly: the rule then matches
        # every candidate article that has none of these keys (negated plain words).
        self.forbidden: Final = forbidden
        # How to explain a match without walking the tree, when the rule is an AND/OR of
        # terms (no NEAR, no term written twice).
        self.plan: Final = plan
        self.looked_up: Final = looked_up  # its leaves' looked_up, together (see look_up)

    def __reduce__(self) -> tuple[type[_Rule], tuple[object, ...]]:
        args = (self.id, self.code, self.leaves, self.forbidden, self.plan, self.looked_up)
        return _Rule, args


def _element_key(mode: str, value: str) -> str:
    """The key an element needs present: its stem, or a wildcard's first (four) letters."""
    if mode == STEM:
        return value
    if mode == PREFIX:
        return _PREFIX_MARK + value[:_PREFIX_KEY_SIZE]
    if mode == EXACT:
        return analyze.stem_of_norm(analyze.norm_of(value))
    return analyze.stem_of_norm(value)


Alternatives: TypeAlias = list[frozenset[str]] | None  # None: nothing required
_T = TypeVar("_T", bound=tuple[Any, ...])


def _and_alternatives(options: list[list[frozenset[str]]]) -> tuple[list[frozenset[str]], bool]:
    """Cross product of the children's alternatives; False when a child had to be left out."""
    if all(len(alts) == 1 for alts in options):  # the usual case: one union
        return [frozenset().union(*[alts[0] for alts in options])], True
    options.sort(key=len)
    result: list[frozenset[str]] = [frozenset()]
    complete = True
    for alts in options:
        if len(result) * len(alts) > _MAX_ALTERNATIVES and len(result) > 1:
            complete = False  # still sound: the full evaluation checks this child anyway
            continue
        result = list(dict.fromkeys(a | b for a in result for b in alts))
    return result, complete


def _ordered(fields: frozenset[str]) -> tuple[str, ...]:
    return tuple(f for f in FIELDS if f in fields)


_DEFAULT_ORDER = _ordered(DEFAULT_FIELDS)


class _Builder:
    """Turns parsed rules into compiled ones, sharing identical leaves between rules."""

    def __init__(self) -> None:
        self.leaf_ids: dict[tuple[str, frozenset[str]], int] = {}
        self.leaves: list[_Leaf] = []
        self.leaf_alternatives: list[list[frozenset[str]]] = []  # leaf.needs, as sets
        self.shapes: dict[Code, Code] = {}  # compiled code, shared between rules
        self.tuples: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # see share()
        self.scoped: set[str] = set()  # fields some term is restricted to
        # per rule, reset by rule():
        self.globals: list[int] = []  # local leaf index -> leaf id
        self.has_near = False

    def share(self, value: _T) -> _T:
        """One object for equal key tuples: a plain word's keys, its needs and its stems are
        the same ``(stem,)``, and fewer objects are less memory and less for the collector."""
        # the dict holds tuples of every shape; the one returned equals value, so it is a _T
        return self.tuples.setdefault(value, value)  # type: ignore[return-value]

    def leaf(self, term: Term) -> int:
        # the text decides the patterns within one compile (lists included), and strings
        # and frozensets hash once: keying by the patterns made this the slowest step
        key = (term.text, term.fields)
        leaf_id = self.leaf_ids.get(key)
        if leaf_id is None:
            leaf_id = self.leaf_ids[key] = len(self.leaves)
            fields = _DEFAULT_ORDER if term.fields == DEFAULT_FIELDS else _ordered(term.fields)
            mark = "" if fields == _DEFAULT_ORDER else _FIELD_MARK[fields[0]]
            if mark:
                self.scoped.add(fields[0])
            needs = list(
                dict.fromkeys(
                    frozenset(mark + _element_key(m, v) for m, v in p) for p in term.patterns
                )
            )
            plain = all(len(p) == 1 and p[0][0] == STEM for p in term.patterns)
            # for plain words, "a key is present" is exactly "the term is present"
            keys = tuple(dict.fromkeys(mark + p[0][1] for p in term.patterns)) if plain else None
            stem = term.patterns[0][0][1] if plain and len(term.patterns) == 1 else None
            # wildcard keys are left to the positional check: an article's wildcard keys
            # cost more to work out than all the rest of pre-selection
            packed = self.share(
                tuple(
                    self.share(tuple(sorted(k for k in need if _PREFIX_MARK not in k)))
                    for need in needs
                )
            )
            wanted = self.share(
                tuple(
                    self.share(tuple(None if m == PREFIX else _element_key(m, v) for m, v in p))
                    for p in term.patterns
                )
            )
            if keys is not None:
                keys = self.share(keys)
            text = intern(term.text)
            looked_up = self.share(tuple(dict.fromkeys(w[0] for w in wanted if w[0] is not None)))
            self.leaves.append(
                _Leaf(text, term.patterns, fields, packed, stem, keys, wanted, looked_up)
            )
            self.leaf_alternatives.append(needs)
        return leaf_id

    def walk(self, node: Node) -> tuple[Code, Alternatives, bool]:
        """Compiled code, required alternatives, and whether they decide the node exactly."""
        if isinstance(node, Term):
            leaf_id = self.leaf(node)
            local = len(self.globals)
            self.globals.append(leaf_id)
            exact = self.leaves[leaf_id].keys is not None
            return _leaf_code(local), self.leaf_alternatives[leaf_id], exact
        if isinstance(node, Not):
            code, _, _ = self.walk(node.child)
            return (_NOT, code), None, False
        if isinstance(node, Near):
            self.has_near = True
            left, left_alts, _ = self.walk(node.left)
            right, right_alts, _ = self.walk(node.right)
            options = [a for a in (left_alts, right_alts) if a is not None]
            alts = _and_alternatives(options)[0] if options else None
            return (_NEAR, left, right, node.distance, node.ordered), alts, False
        walked = [self.walk(child) for child in node.children]
        codes = [code for code, _, _ in walked]
        if isinstance(node, Or):
            or_alts: list[frozenset[str]] = []
            for _, child_alts, _ in walked:
                if child_alts is None:
                    return (_OR, tuple(codes)), None, False
                or_alts.extend(a for a in child_alts if a not in or_alts)
            return (_OR, tuple(codes)), or_alts, all(exact for _, _, exact in walked)
        codes.sort(key=_leaf_last)  # cheap presence tests first
        options = [alts for _, alts, _ in walked if alts is not None]
        if not options:
            return (_AND, tuple(codes)), None, False
        and_alts, complete = _and_alternatives(options)
        exact = complete and all(exact for _, _, exact in walked)
        return (_AND, tuple(codes)), and_alts, exact

    def rule(self, spec: RuleSpec, node: Node) -> tuple[_Rule, list[frozenset[str]]]:
        self.globals, self.has_near = [], False
        forbidden: tuple[str, ...] | None = None
        if isinstance(node, And) and any(isinstance(c, Not) for c in node.children):
            # `a b -c -d`: pre-selection may decide `a b`, one set test the negated words
            walked = [self.walk(child) for child in node.children]
            code: Code = (_AND, tuple(sorted((c for c, _, _ in walked), key=_leaf_last)))
            options = [alts for _, alts, _ in walked if alts is not None]
            alternatives, exact = _and_alternatives(options)
            negated: set[str] = set()
            for child_code, _, child_exact in walked:
                if child_code[0] != _NOT:
                    exact = exact and child_exact
                    continue
                inner = child_code[1]
                keys = self.leaves[self.globals[inner[1]]].keys if inner[0] == _LEAF else None
                if keys is None:
                    exact = False
                else:
                    negated.update(keys)
            if exact:
                forbidden = tuple(sorted(negated))
        else:
            code, node_alternatives, exact = self.walk(node)
            assert node_alternatives is not None  # the parser rejects rules that only negate
            alternatives = node_alternatives
            if exact:
                forbidden = ()
        # code names leaves by their place in the rule, so rules of one shape share it: a
        # few hundred shapes instead of a third of the index's memory
        code = self.shapes.setdefault(code, code)
        leaves = tuple([self.leaves[leaf_id] for leaf_id in self.globals])
        looked_up = self.share(
            tuple(dict.fromkeys(chain.from_iterable(leaf.looked_up for leaf in leaves)))
        )
        compiled = _Rule(spec.id, code, leaves, forbidden, self.plan(code, leaves), looked_up)
        return compiled, alternatives

    def plan(self, code: Code, leaves: tuple[_Leaf, ...]) -> Plan | None:
        """The explanation plan of an AND/OR of terms; None for anything more complex."""
        texts = [leaf.text for leaf in leaves]
        if self.has_near or len(set(texts)) != len(texts):  # a text twice: merged per field
            return None
        locals_: list[int] = []  # the terms' places in the rule
        parts = [code] if code[0] != _AND else [c for c in code[1] if c[0] != _NOT]
        for part in parts:
            if part[0] == _LEAF:
                locals_.append(part[1])
            elif part[0] == _OR and all(c[0] == _LEAF for c in part[1]):
                locals_.extend(c[1] for c in part[1])
            else:
                return None
        return self.share(tuple([leaves[n] for n in sorted(locals_)]))


_LEAF_CODES = tuple((_LEAF, n) for n in range(64))


def _leaf_code(local: int) -> Code:
    """``(_LEAF, local)``, shared: a 100,000-rule index would otherwise hold 400,000 copies."""
    return _LEAF_CODES[local] if local < len(_LEAF_CODES) else (_LEAF, local)


def _leaf_last(code: Code) -> bool:
    return bool(code[0] != _LEAF)


# --------------------------------------------------------------------------- one article


_NO_POSITIONS: list[int] = []  # shared, never mutated
_NO_TERMS: list[TermHit] = []  # shared, never mutated
_PREFIX_KEY_SIZE = 4  # a wildcard needs its first four letters (three if it has three)
_SHORT_FIELD = 48  # up to this many words, positions are found by scanning, with no dict


# chunk -> the wildcard key (the first three, or four, letters) of each of its words
_FIRST_THREE = itemgetter(slice(0, 4))  # a four-letter wildcard key -> the three-letter one
_CHUNK_PREFIX3 = analyze.derived_cache(
    lambda c: tuple(_PREFIX_MARK + analyze.norm_of(w)[:3] for w in analyze.CHUNK_WORDS[c])
)
_CHUNK_PREFIX4 = analyze.derived_cache(
    lambda c: tuple(
        _PREFIX_MARK + analyze.norm_of(w)[:_PREFIX_KEY_SIZE] for w in analyze.CHUNK_WORDS[c]
    )
)


class _FieldView:
    """One field's words, with the analysed forms and position look-ups built on demand."""

    __slots__ = (
        "_first",
        "_grouped",
        "_last",
        "_looked_up",
        "_lowered",
        "_per_chunk",
        "_prefixes",
        "_scanned",
        "_single",
        "_spaced",
        "_spans",
        "chunks",
        "stems",
        "text",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        # one cache look-up per white-space chunk gives the stems; the words themselves are
        # only needed for phrases and wildcards, and then only at a few positions
        self.chunks = text.split()
        self._per_chunk = list(map(analyze.CHUNK_STEMS.__getitem__, self.chunks))
        self.stems: list[str] = list(chain.from_iterable(self._per_chunk))
        self._prefixes: dict[int, list[str]] = {}  # wildcard key size -> key of each word
        self._first: dict[str, int] = {}  # see positions()
        self._grouped: dict[str, list[int]] = {}  # see look_up()
        self._looked_up: set[str] | frozenset[str] = frozenset()
        self._last: dict[str, int] | None = None
        self._lowered: str | None = None  # see absent()
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
        """Find the positions of all these stems in one pass (see RuleIndex.match_with_stats).

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
            if self.absent(value):
                found = []
            elif self._lowered and "." not in value and value.isascii() and self._single_spaced():
                found = self._search_prefix(value)
            else:
                found = self._scan_prefix(value)
            self._scanned[value] = found
        return found

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
        size = min(len(value), _PREFIX_KEY_SIZE)
        marks = self.prefix_marks(size)
        mark = _PREFIX_MARK + value[:size]
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
                ok = analyze.NORM[word] == value
            elif mode == EXACT:
                ok = analyze.EXACT[word] == value
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


class _DocView:
    """An article during matching: field views, its keys, per-article memos."""

    __slots__ = ("_explained", "_occ", "_present", "_sets", "fields", "index", "keys")

    def __init__(self, doc: Document, index: RuleIndex) -> None:
        self.index = index
        fields = {name: _FieldView(getattr(doc, name) or "") for name in FIELDS}
        self.fields = fields
        keys = set(fields["title"].stems)
        keys.update(fields["summary"].stems, fields["body"].stems)
        for name in index._scoped:
            stems = fields[name].stems
            if stems:
                mark = _FIELD_MARK[name]
                keys.update([mark + stem for stem in stems])
        if index._prefix_keys:
            # every word's wildcard keys (its first four letters, and three when some
            # wildcard has only three), kept per field for the wildcards' positions
            marks: set[str] = set()
            three = 3 in index._prefix_sizes
            for name in _DEFAULT_ORDER:
                four = fields[name].prefix_marks(_PREFIX_KEY_SIZE)
                marks.update(four)
                if three:
                    marks.update(map(_FIRST_THREE, four))
            for name in index._scoped:
                mark = _FIELD_MARK[name]
                four = fields[name].prefix_marks(_PREFIX_KEY_SIZE)
                marks.update([mark + k for k in four])
                if three:
                    marks.update([mark + k[:4] for k in four])
            keys.update(marks & index._prefix_keys)
        keys.add("")  # what an alternative needing fewer keys has in the columns left
        self.keys = keys
        self._sets: dict[tuple[str, ...], set[str]] = {}
        # keyed by the leaf objects themselves: hashing one reads no memory
        self._present: dict[_Leaf, bool] = {}
        self._occ: dict[_Leaf, dict[str, list[Occurrence]]] = {}
        self._explained: dict[_Leaf, list[TermHit]] = {}

    def look_up(self, rules: Iterable[_Rule]) -> None:
        """Find every position these rules' terms may ask for, one pass per field."""
        wanted: set[str] = set()
        for rule in rules:
            wanted.update(rule.looked_up)
        for view in self.fields.values():
            view.look_up(wanted)

    def present(self, leaf: _Leaf) -> bool:
        known = self._present.get(leaf)
        if known is None:
            if leaf.keys is not None:
                known = not self.keys.isdisjoint(leaf.keys)
            elif not any(map(self.keys.issuperset, leaf.needs)):
                known = False
            else:
                known = bool(self.occurrences(leaf))
            self._present[leaf] = known
        return known

    def occurrences(self, leaf: _Leaf) -> dict[str, list[Occurrence]]:
        known = self._occ.get(leaf)
        if known is None:
            known = {}
            for name in leaf.fields:
                view = self.fields[name]
                if not view.stems:
                    continue
                if len(leaf.patterns) == 1:
                    found = view.find(leaf.patterns[0], leaf.stems_wanted[0])
                    if found:
                        known[name] = found
                    continue
                merged: set[Occurrence] = set()
                for pattern, wanted in zip(leaf.patterns, leaf.stems_wanted, strict=True):
                    merged.update(view.find(pattern, wanted))
                if merged:
                    known[name] = sorted(merged)
            self._occ[leaf] = known
        return known

    def explain(self, leaf: _Leaf) -> list[TermHit]:
        """A term's TermHits (one per field where it occurs), built once per article."""
        known = self._explained.get(leaf)
        if known is None:
            text = leaf.text
            if leaf.stem is not None:  # one plain word: one span per position
                known = []
                stem = leaf.stem
                for name in leaf.fields:
                    view = self.fields[name]
                    found = view.positions(stem)
                    if found:
                        spans = view.spans().of(found)
                        known.append(TermHit(text, name, tuple(found), spans))
            else:
                known = [
                    _term_hit(text, name, occs, self.fields[name])
                    for name, occs in self.occurrences(leaf).items()
                ]
            self._explained[leaf] = known
        return known

    def follow(self, rule_id: str, plan: Plan) -> Hit:
        """The explanation of a matching rule, from its plan."""
        terms: list[TermHit] = []
        explained = self._explained
        for leaf in plan:
            found = explained.get(leaf)
            if found is None:
                found = self.explain(leaf) if self.present(leaf) else _NO_TERMS
            terms.extend(found)
        return Hit(rule_id, tuple(terms))


_FIELD_ORDER = {name: i for i, name in enumerate(FIELDS)}


def _term_hit(text: str, name: str, occs: list[Occurrence], view: _FieldView) -> TermHit:
    spans = view.spans()
    firsts = [a for a, _ in occs]
    lasts = [b for _, b in occs]
    if firsts == lasts:  # one word each
        positions: tuple[int, ...] = tuple(firsts)
        found = spans.of(positions)
    else:
        positions = tuple(sorted({p for a, b in occs for p in range(a, b + 1)}))
        found = tuple(
            (start, end)
            for (start, _), (_, end) in zip(spans.of(firsts), spans.of(lasts), strict=True)
        )
    return TermHit(text, name, positions, found)


class _Evaluation:
    """One rule against one article on word positions: truth, then the explanation."""

    __slots__ = ("doc", "rule")

    def __init__(self, rule: _Rule, doc: _DocView) -> None:
        self.rule = rule
        self.doc = doc

    def truth(self, code: Code) -> bool:
        op = code[0]
        if op == _LEAF:
            return self.doc.present(self.rule.leaves[code[1]])
        if op == _AND:
            for child in code[1]:  # noqa: SIM110 - a loop is cheaper than all(generator)
                if not self.truth(child):
                    return False
            return True
        if op == _OR:
            for child in code[1]:  # noqa: SIM110
                if self.truth(child):
                    return True
            return False
        if op == _NOT:
            return not self.truth(code[1])
        return any(self.near(code).values())

    def operand(self, code: Code) -> dict[str, list[NearOcc]]:
        """Positional occurrences of a NEAR operand, with the leaves behind each."""
        op = code[0]
        if op == _LEAF:
            local: int = code[1]
            occ = self.doc.occurrences(self.rule.leaves[local])
            return {f: [(a, b, ((local, a, b),)) for a, b in o] for f, o in occ.items()}
        if op == _NEAR:
            return self.near(code)
        merged: dict[str, list[NearOcc]] = {}
        for child in code[1]:
            for name, occs in self.operand(child).items():
                merged.setdefault(name, []).extend(occs)
        return merged

    def near(self, code: Code) -> dict[str, list[NearOcc]]:
        """Pairs of operand occurrences with at most ``distance`` words between them."""
        _, left_code, right_code, distance, ordered = code
        left = self.operand(left_code)
        if not left:
            return {}
        right = self.operand(right_code)
        result: dict[str, list[NearOcc]] = {}
        for name, lefts in left.items():
            rights = right.get(name)
            if not rights:
                continue
            pairs: list[NearOcc] = []
            for a_first, a_last, a_prov in lefts:
                for b_first, b_last, b_prov in rights:
                    if a_last < b_first:
                        gap = b_first - a_last - 1
                    elif b_last < a_first and not ordered:
                        gap = a_first - b_last - 1
                    else:
                        continue
                    if gap <= distance:
                        first, last = min(a_first, b_first), max(a_last, b_last)
                        pairs.append((first, last, a_prov + b_prov))
            if pairs:
                result[name] = pairs
        return result

    def collect(self, code: Code, out: dict[tuple[int, str], set[Occurrence]]) -> None:
        """Gather the occurrences of the terms that made a true node true."""
        op = code[0]
        if op == _LEAF:
            local: int = code[1]
            for name, occs in self.doc.occurrences(self.rule.leaves[local]).items():
                out.setdefault((local, name), set()).update(occs)
        elif op == _AND:
            for child in code[1]:
                self.collect(child, out)
        elif op == _OR:
            for child in code[1]:
                if self.truth(child):
                    self.collect(child, out)
        elif op == _NEAR:
            for name, pairs in self.near(code).items():
                for _, _, prov in pairs:
                    for local_leaf, first, last in prov:
                        out.setdefault((local_leaf, name), set()).add((first, last))

    def hit(self) -> Hit | None:
        if not self.truth(self.rule.code):
            return None
        return self.explain()

    def explain(self) -> Hit:
        """The explanation of a rule known to match."""
        rule = self.rule
        if rule.plan is not None:
            return self.doc.follow(rule.id, rule.plan)
        # NEAR keeps only the occurrences in its pairs; a term written twice merges per field
        found: dict[tuple[int, str], set[Occurrence]] = {}
        self.collect(rule.code, found)
        merged: dict[tuple[str, str], set[Occurrence]] = {}
        for local, name in sorted(found, key=lambda k: (k[0], _FIELD_ORDER[k[1]])):
            text = rule.leaves[local].text
            merged.setdefault((text, name), set()).update(found[local, name])
        terms = [
            _term_hit(text, name, sorted(occs), self.doc.fields[name])
            for (text, name), occs in merged.items()
        ]
        return Hit(rule.id, tuple(terms))


# --------------------------------------------------------------------------- the index


@mypyc_attr(serializable=True)  # picklable when compiled (setup.py)
class RuleIndex:
    """Compiled rules; ``match`` costs about the article's length plus its real matches."""

    def __init__(
        self,
        rules: list[_Rule],
        anchors: Anchors,
        prefix_keys: frozenset[str],
        scoped: Iterable[str] = (),
    ) -> None:
        self._rules = rules  # sorted by id, so candidate numbers sort like ids
        self._pre_selection = pre_selection(anchors)
        self._prefix_keys = prefix_keys
        # the sizes of the wildcard keys in use: 4 letters, and 3 for three-letter wildcards
        self._prefix_sizes = sorted({len(k.lstrip(_MARKS)) - 1 for k in prefix_keys})
        self._scoped = tuple(f for f in FIELDS if f in set(scoped))
        self._by_id = {rule.id: i for i, rule in enumerate(rules)}

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    @property
    def rule_ids(self) -> list[str]:
        return [rule.id for rule in self._rules]

    def candidates(self, doc: Document) -> list[str]:
        """Ids of the rules pre-selection would evaluate for ``doc`` (for tests and tuning)."""
        view = _DocView(doc, self)
        return [self._rules[i].id for i in sorted(self._candidates(view))]

    def _candidates(self, view: _DocView) -> set[int]:
        return self._pre_selection.candidates(view.keys)

    def match_with_stats(self, doc: Document) -> tuple[list[Hit], int]:
        """The hits, sorted by rule id, and how many candidate rules were evaluated."""
        view = _DocView(doc, self)
        chosen = self._candidates(view)
        hits: list[Hit] = []
        rules = self._rules
        keys = view.keys
        if len(chosen) > 1:
            view.look_up(rules[rule_no] for rule_no in chosen)
        for rule_no in sorted(chosen):
            rule = rules[rule_no]
            forbidden = rule.forbidden
            if forbidden is not None:  # pre-selection decided the positive part
                if not keys.isdisjoint(forbidden):
                    continue
                if rule.plan is not None:
                    hits.append(view.follow(rule.id, rule.plan))
                else:  # e.g. a word written twice: merged per field by the full explanation
                    hits.append(_Evaluation(rule, view).explain())
                continue
            hit = _Evaluation(rule, view).hit()
            if hit is not None:
                hits.append(hit)
        return hits, len(chosen)

    def match(self, doc: Document) -> list[Hit]:
        """Every rule that matches ``doc``, sorted by rule id, with the terms that fired."""
        return self.match_with_stats(doc)[0]

    def match_rule(self, rule_id: str, doc: Document) -> Hit | None:
        """Evaluate one rule on positions alone, skipping pre-selection (a cross-check)."""
        rule = self._rules[self._by_id[rule_id]]
        return _Evaluation(rule, _DocView(doc, self)).hit()


# --------------------------------------------------------------------------- compiling


def _parse_rules(
    rules: Iterable[RuleSpec], lists: Mapping[str, Sequence[str]] | None
) -> tuple[list[tuple[RuleSpec, Node]], list[QuerySyntaxError]]:
    table = ListTable(lists or {})
    parsed: list[tuple[RuleSpec, Node]] = []
    errors: list[QuerySyntaxError] = []
    for spec in rules:
        node, problems = parse_all(spec.query, table, rule_id=spec.id)
        if node is None:
            errors.extend(problems)
        else:
            parsed.append((spec, node))
    return parsed, errors


def check_rules(
    rules: Iterable[RuleSpec], lists: Mapping[str, Sequence[str]] | None = None
) -> list[QuerySyntaxError]:
    """Every error in every rule (an empty list when all rules are fine)."""
    return _parse_rules(rules, lists)[1]


def _anchor_cost(
    key: str, rule_counts: Mapping[str, int], seen: Counter[str] | None
) -> tuple[int, int, int, int]:
    """Smaller is rarer: seldom seen in the sample articles; then not a wildcard nor a
    common word, then used by the fewest rules, then longest."""
    word = key.lstrip(_MARKS)
    kind = 2 if _PREFIX_MARK in key else 1 if word in _COMMON or len(word) < 3 else 0
    return (seen[key] if seen is not None else 0, kind, rule_counts[key], -len(word))


def _sample_frequencies(
    sample: Iterable[Document], prefix_keys: frozenset[str], scoped: Iterable[str]
) -> Counter[str]:
    """In how many sample articles each key appears (document frequency)."""
    index = RuleIndex([], {}, prefix_keys, scoped)
    seen: Counter[str] = Counter()
    for doc in sample:
        seen.update(_DocView(doc, index).keys)
    return seen


def compile_rules(
    rules: Iterable[RuleSpec],
    lists: Mapping[str, Sequence[str]] | None = None,
    *,
    sample: Iterable[Document] = (),
) -> RuleIndex:
    """Parse and index every rule; raises :class:`RuleErrors` listing all problems.

    ``sample`` (optional) is a few hundred recent articles: with them each rule is filed under
    the word that really is rarest in the news rather than one guessed from the rules, so
    fewer rules are looked at per article. Matching results are the same either way.
    """
    with _collector_paused():
        parsed, errors = _parse_rules(rules, lists)
        if errors:
            raise RuleErrors(errors)
        index = _build(parsed, sample)
        # the syntax trees go before the collector is back, so its first pass does not
        # scan them (they hold no cycles: freed as soon as the last reference goes)
        del parsed
    return index


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Compiling makes a million small objects and no garbage cycles, so the garbage
    collector would only scan them over and over: a third of the time at 100,000 rules."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(parsed: list[tuple[RuleSpec, Node]], sample: Iterable[Document]) -> RuleIndex:
    parsed.sort(key=lambda item: item[0].id)
    builder = _Builder()
    compiled: list[_Rule] = []
    all_alternatives: list[list[frozenset[str]]] = []
    rule_counts: dict[str, int] = {}  # a dict: Counter.update is Python code, slow compiled
    for spec, node in parsed:
        rule, alternatives = builder.rule(spec, node)
        compiled.append(rule)
        all_alternatives.append(alternatives)
        for alternative in alternatives:
            for key in alternative:
                rule_counts[key] = rule_counts.get(key, 0) + 1

    # Wildcard keys (first letters of every word) are only worked out for articles when some
    # alternative has nothing else to be filed under; elsewhere they are left out of the
    # pre-selection and the candidate's evaluation checks the wildcard on positions.
    anchored_prefixes = frozenset(
        k
        for alternatives in all_alternatives
        for alt in alternatives
        if all(_PREFIX_MARK in k for k in alt)
        for k in alt
    )
    seen = _sample_frequencies(sample, anchored_prefixes, builder.scoped) if sample else None
    postings: dict[str, tuple[list[int], list[tuple[str, ...]]]] = {}
    costs: dict[str, tuple[int, int, int, int]] = {}
    for rule_no, alternatives in enumerate(all_alternatives):
        for alternative in alternatives:
            usable = [k for k in alternative if _PREFIX_MARK not in k]
            if not usable:  # only wildcards: filed under one, the article's keys need them
                usable = list(alternative)
            for key in usable:
                if key not in costs:
                    costs[key] = _anchor_cost(key, rule_counts, seen)
            ranked = sorted(usable, key=costs.__getitem__)
            rule_nos, required = postings.setdefault(intern(ranked[0]), ([], []))
            rule_nos.append(rule_no)
            required.append(tuple(ranked[1:]))  # the keys left to check once it is there
    return RuleIndex(compiled, postings, anchored_prefixes, builder.scoped)
