"""Pre-selection: from the keys an article has, the rules worth evaluating.

Every alternative of every rule (a set of keys it needs present, see rules.engine) is filed
under its rarest key, with the keys it needs besides in rarest-first order. For an article,
the alternatives filed under its keys whose other keys are all present name the candidate
rules. Two layouts do this with no Python-level loop per alternative:

- :class:`TuplePreSelection` keeps the keys as Python strings and filters with C-level
  passes (``compress``/``map``). Cheapest for small and medium indexes.
- :class:`ArrayPreSelection` numbers the keys and keeps the alternatives in numpy arrays.
  Its fixed cost is about twenty numpy calls per article, but a large index's strings lie
  scattered over a heap of tens of megabytes, and at 100,000 rules fetching them cost more
  than the rest of pre-selection; the arrays are a few contiguous megabytes.

:func:`pre_selection` picks by the number of alternatives (measured with bench/rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from itertools import chain, compress, repeat
from operator import itemgetter
from types import ModuleType
from typing import Protocol, TypeAlias

from mypy_extensions import mypyc_attr

# rarest key -> the numbers of the rules with an alternative filed under it, and, aligned
# with them, the other keys each of those alternatives needs (rarest first)
Anchors: TypeAlias = Mapping[str, tuple[Sequence[int], Sequence[tuple[str, ...]]]]

# From this many alternatives on, the arrays are faster (about 1.5 per rule in bench/rules.py:
# at 10,000 rules the tuples were a sixth faster, at 30,000 the arrays a tenth, at 100,000 an
# eighth, both layouts built from the same rules and matching the same articles in turn).
ARRAY_THRESHOLD = 30_000
_COLUMNS = 3  # keys checked in columns; any beyond these in an overflow dict
_PADDING = ("",) * _COLUMNS
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


@cache
def _numpy() -> ModuleType:
    """numpy, imported when a large index first needs it: a small one (and every command
    that loads this module without matching) is spared its 50 ms of import."""
    import numpy  # on first use, on purpose

    return numpy


class PreSelection(Protocol):
    def candidates(self, keys: set[str]) -> set[int]:
        """Numbers of the rules with an alternative whose keys are all in ``keys``, which
        holds "" (what an alternative needing fewer keys has in the columns left)."""
        ...


def pre_selection(anchors: Anchors) -> PreSelection:
    """The layout that is faster for this many alternatives."""
    alternatives = sum(len(rule_nos) for rule_nos, _ in anchors.values())
    if alternatives >= ARRAY_THRESHOLD:
        return ArrayPreSelection(anchors)
    return TuplePreSelection(anchors)


def _numbered(anchors: Anchors) -> tuple[list[int], list[tuple[str, ...]]]:
    """Every alternative's rule and other keys, padded with "" to the columns, in the order
    of the anchors (so an anchor's alternatives have consecutive numbers)."""
    rule_nos = list(chain.from_iterable(nos for nos, _ in anchors.values()))
    others = [
        keys + _PADDING[len(keys) :] if len(keys) < _COLUMNS else keys
        for keys in chain.from_iterable(reqs for _, reqs in anchors.values())
    ]
    return rule_nos, others


def _overflow(others: Sequence[tuple[str, ...]]) -> dict[int, tuple[str, ...]]:
    return {n: keys[_COLUMNS:] for n, keys in enumerate(others) if len(keys) > _COLUMNS}


@mypyc_attr(serializable=True)  # picklable when compiled (setup.py)
class TuplePreSelection:
    """Alternatives as Python objects, filtered by a few passes in C.

    Under its anchor each alternative is listed with the key it needs next ("" if none, and
    "" is always among an article's keys); the keys after that are in columns indexed by
    the alternative's number. Most alternatives stop at their second key: set.issuperset
    would build a set per alternative, and a Python loop per key costs more still.
    """

    __slots__ = ("_anchored", "_columns", "_overflow", "_rule_of")

    def __init__(self, anchors: Anchors) -> None:
        self._rule_of, others = _numbered(anchors)
        # one dict, so a key present costs one look-up: a second dict cost a tenth more
        self._anchored: dict[str, tuple[range, tuple[str, ...]]] = {}
        start = 0
        for key, (rule_nos, _) in anchors.items():
            end = start + len(rule_nos)
            self._anchored[key] = (range(start, end), tuple(map(_FIRST, others[start:end])))
            start = end
        columns = [list(map(itemgetter(c), others)) for c in range(1, _COLUMNS)]
        while columns and not any(columns[-1]):
            columns.pop()  # no alternative needs that many keys
        self._columns = columns
        self._overflow = _overflow(others)

    def candidates(self, keys: set[str]) -> set[int]:
        has = keys.__contains__
        anchored = list(map(self._anchored.__getitem__, self._anchored.keys() & keys))
        numbers = chain.from_iterable(map(_FIRST, anchored))
        seconds = chain.from_iterable(map(_SECOND, anchored))
        alternatives = list(compress(numbers, map(has, seconds)))
        for column in self._columns:
            alternatives = list(
                compress(alternatives, map(has, map(column.__getitem__, alternatives)))
            )
        rule_nos = list(map(self._rule_of.__getitem__, alternatives))
        return _rules_of(alternatives, rule_nos, self._overflow, keys)


@mypyc_attr(serializable=True)  # picklable when compiled (setup.py)
class ArrayPreSelection:
    """Alternatives as numbered keys in numpy arrays, for large indexes.

    Key 0 is "" (no key needed), keys 1 to ``_anchors`` are the anchors, in the order their
    alternatives are numbered: anchor k's alternatives are ``_bounds[k]`` up to
    ``_bounds[k + 1]``. Of the alternatives under an article's anchors, those whose key in
    each column is marked present remain. 32-bit numbers: half the memory to fetch.
    """

    __slots__ = ("_anchors", "_bounds", "_columns", "_key_no", "_overflow", "_rule_of")

    def __init__(self, anchors: Anchors) -> None:
        np = _numpy()
        rule_nos, others = _numbered(anchors)
        # anchors first, then every other key in a column
        keys = dict.fromkeys(chain(("",), anchors, chain.from_iterable(others)))
        self._key_no: dict[str, int] = dict(zip(keys, range(len(keys)), strict=True))
        self._anchors = len(anchors)
        number = self._key_no.__getitem__
        self._columns = [
            np.fromiter(map(number, map(itemgetter(c), others)), np.int32, len(others))
            for c in range(_COLUMNS)
        ]
        while self._columns and not self._columns[-1].any():
            self._columns.pop()
        counts = np.fromiter((len(nos) for nos, _ in anchors.values()), np.int32, len(anchors))
        self._bounds = np.zeros(len(anchors) + 2, np.int32)
        np.cumsum(counts, out=self._bounds[2:])
        self._rule_of = np.array(rule_nos, np.int32)
        self._overflow = _overflow(others)

    def candidates(self, keys: set[str]) -> set[int]:
        # The article's keys by number, 0 for "" and for keys no alternative needs (0 is
        # marked present anyway, and as an anchor it has no alternatives). Each numpy call
        # costs about a microsecond more than its work, so the calls here are kept few.
        np = _numpy()
        present_nos = np.fromiter(map(self._key_no.get, keys, repeat(0)), np.int32, len(keys))
        present = np.zeros(len(self._key_no), np.bool_)
        present[present_nos] = True
        anchors = present_nos[present_nos <= self._anchors]
        if not len(anchors):  # no keys at all (keys lacked "")
            return set()
        starts = self._bounds[anchors]
        ends = self._bounds[anchors + 1]
        counts = ends - starts
        total = np.cumsum(counts)
        # the alternatives filed under those anchors: each anchor's range, end to end
        alternatives = np.repeat(ends - total, counts) + np.arange(total[-1])
        for column in self._columns:
            alternatives = alternatives[present[column[alternatives]]]
        rule_nos = self._rule_of[alternatives].tolist()
        if not self._overflow:  # the alternatives' own numbers are only needed for it
            return set(rule_nos)
        return _rules_of(alternatives.tolist(), rule_nos, self._overflow, keys)


def _rules_of(
    alternatives: list[int],
    rule_nos: list[int],
    overflow: dict[int, tuple[str, ...]],
    keys: set[str],
) -> set[int]:
    """The rules of these alternatives, once any keys past the columns are checked."""
    if not overflow:
        return set(rule_nos)
    return {
        rule_no
        for n, rule_no in zip(alternatives, rule_nos, strict=True)
        if n not in overflow or keys.issuperset(overflow[n])
    }
