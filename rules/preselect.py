"""Pre-selection: from the keys an article has, the rules worth evaluating.

Every alternative of every rule (a set of keys it needs present, see rules.keys) is filed
under its rarest key, with the keys it needs besides in rarest-first order. For an article,
the alternatives filed under its keys whose other keys are all present name the candidate
rules, found with set intersections and C-level passes (``compress``/``map``), no
Python-level loop per alternative.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from itertools import chain, compress
from operator import itemgetter
from typing import TypeAlias

from mypy_extensions import mypyc_attr

__all__ = ["Anchors", "PreSelection"]

# rarest key -> the numbers of the rules with an alternative filed under it, and, aligned
# with them, the other keys each of those alternatives needs (rarest first)
Anchors: TypeAlias = Mapping[str, tuple[Sequence[int], Sequence[tuple[str, ...]]]]

_COLUMNS = 3  # keys checked in columns; any beyond these in an overflow dict
_PADDING = ("",) * _COLUMNS


@mypyc_attr(serializable=True)  # picklable when compiled (setup.py)
class PreSelection:
    """Alternatives as Python objects, filtered by a few passes in C.

    The alternatives are numbered in the order of their anchors. Under its anchor they are
    grouped by the key each needs next ("" if none, and "" is always among an article's
    keys), so the groups an article has are one set intersection away: checking the next
    key of every alternative under an anchor present, one by one even in C, was a fifth of
    the matching time at 100,000 dense rules. The keys after that are in columns indexed by
    the alternative's number. Most alternatives stop at their second key: set.issuperset
    would build a set per alternative, and a Python loop per key costs more.
    """

    __slots__ = ("_anchored", "_columns", "_overflow", "_rule_of")

    def __init__(self, anchors: Anchors) -> None:
        # 4 bytes a number: a list would hold an 8-byte pointer to a 32-byte int for each
        self._rule_of = array("i", chain.from_iterable(nos for nos, _ in anchors.values()))
        # every alternative's other keys, padded with "" to the columns
        others = [
            keys + _PADDING[len(keys) :] if len(keys) < _COLUMNS else keys
            for keys in chain.from_iterable(reqs for _, reqs in anchors.values())
        ]
        # anchor -> the alternatives filed under it, grouped by the key each needs next:
        # an article's keys pick the groups with one set intersection per anchor present
        self._anchored: dict[str, dict[str, tuple[int, ...]]] = {}
        start = 0
        for key, (rule_nos, _) in anchors.items():
            end = start + len(rule_nos)
            by_next: dict[str, list[int]] = {}
            for number in range(start, end):
                following = others[number][0]
                group = by_next.get(following)
                if group is None:
                    by_next[following] = [number]
                else:
                    group.append(number)
            # tuples of small ints: the garbage collector stops tracking them
            self._anchored[key] = {k: tuple(group) for k, group in by_next.items()}
            start = end
        columns = [list(map(itemgetter(c), others)) for c in range(1, _COLUMNS)]
        while columns and not any(columns[-1]):
            columns.pop()  # no alternative needs that many keys
        self._columns = columns
        self._overflow = {n: k[_COLUMNS:] for n, k in enumerate(others) if len(k) > _COLUMNS}

    def candidates(self, keys: set[str]) -> set[int]:
        """Numbers of the rules with an alternative whose keys are all in ``keys``, which
        holds "" (what an alternative needing fewer keys has in the columns left)."""
        has = keys.__contains__
        anchored = self._anchored
        alternatives: list[int] = []
        for key in anchored.keys() & keys:
            by_next = anchored[key]
            for following in by_next.keys() & keys:
                alternatives.extend(by_next[following])
        for column in self._columns:
            alternatives = list(
                compress(alternatives, map(has, map(column.__getitem__, alternatives)))
            )
        rule_nos = map(self._rule_of.__getitem__, alternatives)
        overflow = self._overflow
        if not overflow:
            return set(rule_nos)
        return {
            rule_no
            for n, rule_no in zip(alternatives, rule_nos, strict=True)
            if n not in overflow or keys.issuperset(overflow[n])
        }
