"""Many rules compiled into one index; an article is matched against the few rules it can hit.

How matching stays independent of the number of rules (the way Lucene's Monitor and the
Elasticsearch percolator pre-select queries):

1. At compile time every rule is reduced to the words it *requires*: one or more
   alternatives, each a set of stems (``UK AND (China OR Beijing)`` -> ``{uk, china}`` or
   ``{uk, beij}``). Phrases, ``!Word`` and NEAR require their words' stems too, a wildcard
   requires its first three letters. NOT requires nothing, which is why a rule that only
   negates is an error: it could not be filed anywhere.
2. Each alternative is filed under one *anchor*: its rarest required key (few rules use it,
   not a common English word, longer rather than shorter).
3. For an article, one pass over its words gives the set of stems present. Intersecting that
   set with the anchors gives the alternatives worth a look; an alternative whose required
   keys are all present makes its rule a candidate.
4. Only candidates are evaluated in full (fields, phrases, NOT, NEAR), and only the rules that
   match pay for the explanation (positions and character spans per term and field).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from sys import intern
from typing import Any, TypeAlias

from rules import analyze
from rules.query import (
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


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    query: str


@dataclass(frozen=True, slots=True)
class Document:
    """The text fields of an article as the rules see them."""

    title: str = ""
    summary: str = ""
    body: str = ""
    source: str = ""  # outlet name and/or domain, e.g. "Harbour Gazette harbourgazette.example"


@dataclass(frozen=True, slots=True)
class TermHit:
    """Where one query term fired in one field."""

    term: str  # the query term as the user wrote it: visit, "United Kingdom", @uk
    field: str  # title | summary | body | source
    positions: tuple[int, ...]  # word positions in that field (every word of a phrase)
    spans: tuple[tuple[int, int], ...]  # (start, end) char offsets, one per occurrence


@dataclass(frozen=True, slots=True)
class Hit:
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

_PREFIX_MARK = "\x00"  # required keys for wildcards: "\x00" + first three letters
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


@dataclass(frozen=True, slots=True)
class _Leaf:
    """A distinct (patterns, fields) pair; shared by every rule that uses it."""

    patterns: tuple[Pattern, ...]
    fields: tuple[str, ...]
    stems: frozenset[str] | None  # set when every pattern is one plain word: presence test


@dataclass(frozen=True, slots=True)
class _Rule:
    id: str
    code: Code
    leaves: tuple[int, ...]  # local leaf index -> global leaf id
    texts: tuple[str, ...]  # local leaf index -> term as written


def _element_key(mode: str, value: str) -> str:
    if mode == STEM:
        return value
    if mode == PREFIX:
        return _PREFIX_MARK + value[:3]
    if mode == EXACT:
        return analyze.stem_of_norm(analyze.norm_of(value))
    return analyze.stem_of_norm(value)


Alternatives: TypeAlias = list[frozenset[str]] | None  # None: nothing required


def _requirements(node: Node) -> Alternatives:
    """The sets of keys one of which must be fully present for the node to match."""
    if isinstance(node, Term):
        alts = {frozenset(_element_key(m, v) for m, v in p) for p in node.patterns}
        return sorted(alts, key=sorted)
    if isinstance(node, Not):
        return None
    if isinstance(node, Near):
        return _and_requirements([node.left, node.right])
    if isinstance(node, Or):
        result: list[frozenset[str]] = []
        for child in node.children:
            alts_or = _requirements(child)
            if alts_or is None:
                return None
            result.extend(a for a in alts_or if a not in result)
        return result
    return _and_requirements(list(node.children))


def _and_requirements(children: list[Node]) -> Alternatives:
    options = [alts for alts in map(_requirements, children) if alts is not None]
    if not options:
        return None
    options.sort(key=len)
    result: list[frozenset[str]] = [frozenset()]
    for alts in options:
        if len(result) * len(alts) > _MAX_ALTERNATIVES and result != [frozenset()]:
            continue  # still sound: the full evaluation checks this child anyway
        result = list(dict.fromkeys(a | b for a in result for b in alts))
    return result


def _compile_node(node: Node, leaf_of: dict[Term, int]) -> Code:
    if isinstance(node, Term):
        return (_LEAF, leaf_of[node])
    if isinstance(node, Not):
        return (_NOT, _compile_node(node.child, leaf_of))
    if isinstance(node, Near):
        left = _compile_node(node.left, leaf_of)
        right = _compile_node(node.right, leaf_of)
        return (_NEAR, left, right, node.distance, node.ordered)
    children = [_compile_node(c, leaf_of) for c in node.children]
    if isinstance(node, And):
        # plain presence tests first: they are cheap and usually decide
        children.sort(key=lambda c: c[0] != _LEAF)
        return (_AND, tuple(children))
    return (_OR, tuple(children))


# --------------------------------------------------------------------------- one article


class _FieldView:
    """One field's words, with the analysed forms and position lists built on demand."""

    __slots__ = ("_exacts", "_norms", "_positions", "_spans", "stems", "text", "words")

    def __init__(self, text: str) -> None:
        self.text = text
        self.words: list[str] = analyze.words(text) if text else []
        self.stems: list[str] = list(map(analyze.STEM.__getitem__, self.words))
        self._norms: list[str] | None = None
        self._exacts: list[str] | None = None
        self._positions: dict[str, dict[str, list[int]]] = {}
        self._spans: list[tuple[int, int]] | None = None

    def forms(self, mode: str) -> list[str]:
        if mode == STEM:
            return self.stems
        if mode == EXACT:
            if self._exacts is None:
                self._exacts = list(map(analyze.EXACT.__getitem__, self.words))
            return self._exacts
        if self._norms is None:
            self._norms = list(map(analyze.NORM.__getitem__, self.words))
        return self._norms

    def positions(self, mode: str) -> dict[str, list[int]]:
        table = self._positions.get(mode)
        if table is None:
            table = {}
            for i, form in enumerate(self.forms(mode)):
                found = table.get(form)
                if found is None:
                    table[form] = [i]
                else:
                    found.append(i)
            self._positions[mode] = table
        return table

    def starts(self, mode: str, value: str) -> list[int]:
        if mode == PREFIX:
            table = self.positions(NORM)
            hits = [p for form, ps in table.items() if form.startswith(value) for p in ps]
            hits.sort()
            return hits
        return self.positions(mode).get(value, [])

    def find(self, pattern: Pattern) -> list[Occurrence]:
        first_mode, first_value = pattern[0]
        starts = self.starts(first_mode, first_value)
        if len(pattern) == 1:
            return [(p, p) for p in starts]
        size = len(self.words)
        rest = [(offset, mode, value) for offset, (mode, value) in enumerate(pattern) if offset]
        found: list[Occurrence] = []
        for p in starts:
            if p + len(pattern) > size:
                break
            for offset, mode, value in rest:
                form = self.forms(PREFIX if mode == PREFIX else mode)[p + offset]
                if not (form.startswith(value) if mode == PREFIX else form == value):
                    break
            else:
                found.append((p, p + len(pattern) - 1))
        return found

    def spans(self) -> list[tuple[int, int]]:
        if self._spans is None:
            self._spans = analyze.spans(self.text)
        return self._spans


class _DocView:
    """An article during matching: field views plus per-article memos of leaf results."""

    __slots__ = ("_occ", "_present", "_sets", "fields", "index", "keys")

    def __init__(self, doc: Document, index: RuleIndex) -> None:
        self.index = index
        self.fields = {name: _FieldView(getattr(doc, name)) for name in FIELDS}
        keys: set[str] = set()
        for view in self.fields.values():
            keys.update(view.stems)
        if index._prefix_keys:
            for view in self.fields.values():
                norms = set(map(analyze.NORM.__getitem__, view.words))
                marks = {_PREFIX_MARK + n[:3] for n in norms}
                keys.update(marks & index._prefix_keys)
        self.keys = keys  # every stem (and wildcard key) present in any field
        self._sets: dict[tuple[str, ...], set[str]] = {}
        self._present: dict[int, bool] = {}
        self._occ: dict[int, dict[str, list[Occurrence]]] = {}

    def stem_set(self, fields: tuple[str, ...]) -> set[str]:
        found = self._sets.get(fields)
        if found is None:
            found = set()
            for name in fields:
                found.update(self.fields[name].stems)
            self._sets[fields] = found
        return found

    def present(self, leaf_id: int) -> bool:
        known = self._present.get(leaf_id)
        if known is None:
            leaf = self.index._leaves[leaf_id]
            if leaf.stems is not None:
                known = not leaf.stems.isdisjoint(self.stem_set(leaf.fields))
            else:
                known = bool(self.occurrences(leaf_id))
            self._present[leaf_id] = known
        return known

    def occurrences(self, leaf_id: int) -> dict[str, list[Occurrence]]:
        known = self._occ.get(leaf_id)
        if known is None:
            leaf = self.index._leaves[leaf_id]
            known = {}
            for name in leaf.fields:
                view = self.fields[name]
                if not view.words:
                    continue
                found: set[Occurrence] = set()
                for pattern in leaf.patterns:
                    found.update(view.find(pattern))
                if found:
                    known[name] = sorted(found)
            self._occ[leaf_id] = known
        return known


class _Evaluation:
    """One rule against one article: truth first, explanation only for a match."""

    __slots__ = ("doc", "rule")

    def __init__(self, rule: _Rule, doc: _DocView) -> None:
        self.rule = rule
        self.doc = doc

    def truth(self, code: Code) -> bool:
        op = code[0]
        if op == _LEAF:
            return self.doc.present(self.rule.leaves[code[1]])
        if op == _AND:
            return all(self.truth(c) for c in code[1])
        if op == _OR:
            return any(self.truth(c) for c in code[1])
        if op == _NOT:
            return not self.truth(code[1])
        return any(self.near(code).values())

    def spans_of(self, code: Code) -> dict[str, list[NearOcc]]:
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
            for name, occs in self.spans_of(child).items():
                merged.setdefault(name, []).extend(occs)
        return merged

    def near(self, code: Code) -> dict[str, list[NearOcc]]:
        _, left_code, right_code, distance, ordered = code
        left = self.spans_of(left_code)
        if not left:
            return {}
        right = self.spans_of(right_code)
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
        found: dict[tuple[int, str], set[Occurrence]] = {}
        self.collect(self.rule.code, found)
        merged: dict[tuple[str, str], set[Occurrence]] = {}
        order = {name: i for i, name in enumerate(FIELDS)}
        for local, name in sorted(found, key=lambda k: (k[0], order[k[1]])):
            merged.setdefault((self.rule.texts[local], name), set()).update(found[local, name])
        terms: list[TermHit] = []
        for (text, name), term_occs in merged.items():
            spans = self.doc.fields[name].spans()
            ordered_occs = sorted(term_occs)
            positions = sorted({p for a, b in ordered_occs for p in range(a, b + 1)})
            terms.append(
                TermHit(
                    term=text,
                    field=name,
                    positions=tuple(positions),
                    spans=tuple((spans[a][0], spans[b][1]) for a, b in ordered_occs),
                )
            )
        return Hit(self.rule.id, tuple(terms))


# --------------------------------------------------------------------------- the index


class RuleIndex:
    """Compiled rules; ``match`` costs about the article's length plus its real matches."""

    def __init__(
        self,
        rules: list[_Rule],
        leaves: list[_Leaf],
        anchors: dict[str, list[tuple[int, frozenset[str]]]],
        prefix_keys: frozenset[str],
    ) -> None:
        self._rules = rules  # sorted by id, so candidate numbers sort like ids
        self._leaves = leaves
        self._anchors = anchors
        self._prefix_keys = prefix_keys
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
        keys = view.keys
        anchors = self._anchors
        chosen: set[int] = set()
        for key in anchors.keys() & keys:
            for rule_no, required in anchors[key]:
                if rule_no not in chosen and required <= keys:
                    chosen.add(rule_no)
        return chosen

    def match_with_stats(self, doc: Document) -> tuple[list[Hit], int]:
        """The hits, sorted by rule id, and how many candidate rules were evaluated."""
        view = _DocView(doc, self)
        chosen = self._candidates(view)
        hits: list[Hit] = []
        for rule_no in sorted(chosen):
            hit = _Evaluation(self._rules[rule_no], view).hit()
            if hit is not None:
                hits.append(hit)
        return hits, len(chosen)

    def match(self, doc: Document) -> list[Hit]:
        """Every rule that matches ``doc``, sorted by rule id, with the terms that fired."""
        return self.match_with_stats(doc)[0]

    def match_rule(self, rule_id: str, doc: Document) -> Hit | None:
        """Evaluate one rule, skipping pre-selection (a cross-check and a backtest helper)."""
        rule = self._rules[self._by_id[rule_id]]
        return _Evaluation(rule, _DocView(doc, self)).hit()


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


def _anchor_cost(key: str, rule_counts: Counter[str]) -> tuple[int, int, int]:
    """Smaller is rarer: wildcards and common words last, then fewest rules, then longest."""
    kind = 2 if key.startswith(_PREFIX_MARK) else 1 if key in _COMMON or len(key) < 3 else 0
    return (kind, rule_counts[key], -len(key))


def compile_rules(
    rules: Iterable[RuleSpec], lists: Mapping[str, Sequence[str]] | None = None
) -> RuleIndex:
    """Parse and index every rule; raises :class:`RuleErrors` listing all problems."""
    parsed, errors = _parse_rules(rules, lists)
    if errors:
        raise RuleErrors(errors)
    parsed.sort(key=lambda item: item[0].id)

    leaf_ids: dict[tuple[tuple[Pattern, ...], tuple[str, ...]], int] = {}
    leaves: list[_Leaf] = []
    compiled: list[_Rule] = []
    all_alternatives: list[list[frozenset[str]]] = []
    rule_counts: Counter[str] = Counter()
    for spec, node in parsed:
        leaf_of: dict[Term, int] = {}
        globals_: list[int] = []
        texts: list[str] = []
        for term in _terms(node):
            fields = tuple(f for f in FIELDS if f in term.fields)
            key = (term.patterns, fields)
            leaf_id = leaf_ids.get(key)
            if leaf_id is None:
                leaf_id = leaf_ids[key] = len(leaves)
                plain = all(len(p) == 1 and p[0][0] == STEM for p in term.patterns)
                stems = frozenset(p[0][1] for p in term.patterns) if plain else None
                leaves.append(_Leaf(term.patterns, fields, stems))
            leaf_of[term] = len(globals_)
            globals_.append(leaf_id)
            texts.append(intern(term.text))
        compiled.append(_Rule(spec.id, _compile_node(node, leaf_of), tuple(globals_), tuple(texts)))
        alternatives = _requirements(node)
        assert alternatives is not None  # the parser rejects rules that only negate
        all_alternatives.append(alternatives)
        for alternative in alternatives:
            rule_counts.update(alternative)

    anchors: dict[str, list[tuple[int, frozenset[str]]]] = {}
    prefix_keys: set[str] = set()
    for rule_no, alternatives in enumerate(all_alternatives):
        for alternative in alternatives:
            anchor = min(alternative, key=lambda k: _anchor_cost(k, rule_counts))
            anchors.setdefault(intern(anchor), []).append((rule_no, alternative))
            prefix_keys.update(k for k in alternative if k.startswith(_PREFIX_MARK))
    return RuleIndex(compiled, leaves, anchors, frozenset(prefix_keys))


def _terms(node: Node) -> list[Term]:
    """Leaves in query order; identical Term objects (equal dataclasses) share one entry."""
    found: list[Term] = []
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Term):
            found.append(current)
        elif isinstance(current, And | Or):
            stack.extend(reversed(current.children))
        elif isinstance(current, Not):
            stack.append(current.child)
        else:
            stack.extend((current.right, current.left))
    return list(dict.fromkeys(found))
