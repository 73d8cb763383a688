"""Parsed rules -> compiled rules: code to evaluate, leaves to look up, keys to file them under.

A rule compiles to its *code*, a tree of plain tuples naming its terms by their place in the
rule (so rules of one shape share it), and its *leaves*, one per distinct term and fields,
shared by every rule that uses them: an article works out a leaf's presence and explanation
once, however many rules ask. Alongside, the compiler reduces each rule to the *alternatives*
of keys it requires (rules.keys): ``UK AND (China OR Beijing)`` needs ``{uk, china}`` or
``{uk, beij}``, and NOT requires nothing, which is why a rule that only negates is an error.
When those keys decide the rule exactly (plain words under AND/OR, negated plain words), the
rule records it, and a candidate needs no evaluation at all (see RuleIndex.match_with_stats).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from sys import intern
from typing import Any, Final, TypeAlias, TypeVar

from mypy_extensions import mypyc_attr

from rules.analyze import DEFAULT_LANGUAGE
from rules.elements import ListTable
from rules.keys import DEFAULT_ORDER, FIELD_MARK, PREFIX_MARK, element_key, ordered
from rules.query import parse_all
from rules.syntax import (
    DEFAULT_FIELDS,
    FILTERS,
    PREFIX,
    STEM,
    And,
    AtLeast,
    Near,
    Node,
    Not,
    Or,
    Pattern,
    QuerySyntaxError,
    Term,
)
from rules.types import RuleSpec

__all__ = [
    "AND",
    "ATLEAST",
    "LEAF",
    "NEAR",
    "NOT",
    "OR",
    "Code",
    "CompiledRule",
    "Leaf",
    "Plan",
    "RuleCompiler",
    "check_rules",
    "parse_rules",
]

# Opcodes of the compiled rule trees (plain tuples: cheaper to walk than objects).
LEAF, AND, OR, NOT, NEAR, ATLEAST = 0, 1, 2, 3, 4, 5
Code: TypeAlias = tuple[Any, ...]  # (opcode, operands...)
# the leaves whose terms explain a match, in query order, each if present (an OR's terms
# may not be); a leaf is one term text in one set of fields, so its explanation in an
# article is the same for every rule
Plan: TypeAlias = tuple["Leaf", ...]

_MAX_ALTERNATIVES = 32  # cap on the AND cross product when computing required keys


# Leaf and CompiledRule are plain classes for the reason given at rules.syntax.Term; compiled,
# a class pickles only with __reduce__ (or as serializable, which checks every attribute read
# for a missing value), and the index holds hundreds of thousands of them.


@mypyc_attr(acyclic=True)  # compiled, the garbage collector need not track them
class Leaf:
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

    def __reduce__(self) -> tuple[type[Leaf], tuple[object, ...]]:
        return Leaf, (
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
class CompiledRule:
    __slots__ = ("code", "forbidden", "id", "leaves", "looked_up", "plan")

    def __init__(
        self,
        rule_id: str,
        code: Code,
        leaves: tuple[Leaf, ...],
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
        self.looked_up: Final = looked_up  # its leaves' (see ArticleView.look_up)

    def __reduce__(self) -> tuple[type[CompiledRule], tuple[object, ...]]:
        args = (self.id, self.code, self.leaves, self.forbidden, self.plan, self.looked_up)
        return CompiledRule, args


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


class RuleCompiler:
    """Turns parsed rules into compiled ones, sharing identical leaves between rules."""

    def __init__(self) -> None:
        self.leaf_ids: dict[tuple[str, frozenset[str]], int] = {}
        self.leaves: list[Leaf] = []
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
            fields = DEFAULT_ORDER if term.fields == DEFAULT_FIELDS else ordered(term.fields)
            mark = "" if fields == DEFAULT_ORDER else FIELD_MARK[fields[0]]
            if mark and fields[0] not in FILTERS:  # an article's filter keys are always made
                self.scoped.add(fields[0])
            needs = list(
                dict.fromkeys(
                    frozenset(mark + element_key(m, v) for m, v in p) for p in term.patterns
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
                    self.share(tuple(sorted(k for k in need if PREFIX_MARK not in k)))
                    for need in needs
                )
            )
            wanted = self.share(
                tuple(
                    self.share(tuple(None if m == PREFIX else element_key(m, v) for m, v in p))
                    for p in term.patterns
                )
            )
            if keys is not None:
                keys = self.share(keys)
            text = intern(term.text)
            looked_up = self.share(tuple(dict.fromkeys(w[0] for w in wanted if w[0] is not None)))
            self.leaves.append(
                Leaf(text, term.patterns, fields, packed, stem, keys, wanted, looked_up)
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
            return (NOT, code), None, False
        if isinstance(node, AtLeast):
            code, alts, _ = self.walk(node.child)
            return (ATLEAST, code, node.times), alts, False
        if isinstance(node, Near):
            self.has_near = True
            left, left_alts, _ = self.walk(node.left)
            right, right_alts, _ = self.walk(node.right)
            options = [a for a in (left_alts, right_alts) if a is not None]
            alts = _and_alternatives(options)[0] if options else None
            return (NEAR, left, right, node.distance, node.ordered), alts, False
        walked = [self.walk(child) for child in node.children]
        codes = [code for code, _, _ in walked]
        if isinstance(node, Or):
            or_alts: list[frozenset[str]] = []
            for _, child_alts, _ in walked:
                if child_alts is None:
                    return (OR, tuple(codes)), None, False
                or_alts.extend(a for a in child_alts if a not in or_alts)
            return (OR, tuple(codes)), or_alts, all(exact for _, _, exact in walked)
        codes.sort(key=_leaf_last)  # cheap presence tests first
        options = [alts for _, alts, _ in walked if alts is not None]
        if not options:
            return (AND, tuple(codes)), None, False
        and_alts, complete = _and_alternatives(options)
        exact = complete and all(exact for _, _, exact in walked)
        return (AND, tuple(codes)), and_alts, exact

    def rule(self, spec: RuleSpec, node: Node) -> tuple[CompiledRule, list[frozenset[str]]]:
        self.globals, self.has_near = [], False
        forbidden: tuple[str, ...] | None = None
        if isinstance(node, And) and any(isinstance(c, Not) for c in node.children):
            # `a b -c -d`: pre-selection may decide `a b`, one set test the negated words
            walked = [self.walk(child) for child in node.children]
            code: Code = (AND, tuple(sorted((c for c, _, _ in walked), key=_leaf_last)))
            options = [alts for _, alts, _ in walked if alts is not None]
            alternatives, exact = _and_alternatives(options)
            negated: set[str] = set()
            for child_code, _, child_exact in walked:
                if child_code[0] != NOT:
                    exact = exact and child_exact
                    continue
                inner = child_code[1]
                keys = self.leaves[self.globals[inner[1]]].keys if inner[0] == LEAF else None
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
        compiled = CompiledRule(
            spec.id, code, leaves, forbidden, self.plan(code, leaves), looked_up
        )
        return compiled, alternatives

    def plan(self, code: Code, leaves: tuple[Leaf, ...]) -> Plan | None:
        """The explanation plan of an AND/OR of terms; None for anything more complex."""
        texts = [leaf.text for leaf in leaves]
        if self.has_near or len(set(texts)) != len(texts):  # a text twice: merged per field
            return None
        locals_: list[int] = []  # the terms' places in the rule
        parts = [code] if code[0] != AND else [c for c in code[1] if c[0] != NOT]
        for part in parts:
            if part[0] == LEAF:
                locals_.append(part[1])
            elif part[0] == OR and all(c[0] == LEAF for c in part[1]):
                locals_.extend(c[1] for c in part[1])
            else:
                return None
        return self.share(tuple([leaves[n] for n in sorted(locals_)]))


_LEAF_CODES = tuple((LEAF, n) for n in range(64))


def _leaf_code(local: int) -> Code:
    """``(LEAF, local)``, shared: a 100,000-rule index would otherwise hold 400,000 copies."""
    return _LEAF_CODES[local] if local < len(_LEAF_CODES) else (LEAF, local)


def _leaf_last(code: Code) -> bool:
    return bool(code[0] != LEAF)


def parse_rules(
    rules: Iterable[RuleSpec],
    lists: Mapping[str, Sequence[str]] | None,
    lang: str = DEFAULT_LANGUAGE,
) -> tuple[list[tuple[RuleSpec, Node]], list[QuerySyntaxError]]:
    """The rules' syntax trees, their words keyed in ``lang`` (an analysis language)."""
    table = ListTable(lists or {}, lang)
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
    return parse_rules(rules, lists)[1]
