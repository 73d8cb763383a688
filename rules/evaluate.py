"""One article against compiled rules: is a rule true, and which terms made it so.

An :class:`ArticleView` holds what matching learns about the article, each piece worked out
once, whichever rule asks first: the keys it has (for pre-selection), and per leaf its
presence, its occurrences and its explanation. A :class:`RuleEvaluation` walks one rule's
code over that view; a rule the keys decide exactly skips the walk (its plan names the
leaves that explain it). A hit keeps the view and is explained from it when its terms are
first read (rules.types.Hit).
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import TypeAlias

from rules.compile import AND, ATLEAST, LEAF, NEAR, NOT, OR, Code, CompiledRule, Leaf, Plan
from rules.keys import DEFAULT_ORDER, FIELD_MARK, PREFIX_KEY_SIZE
from rules.spans import sentence_numbers
from rules.syntax import FIELDS, SAME_SENTENCE
from rules.textview import FieldView, Occurrence
from rules.types import Document, Hit, TermHit

__all__ = ["ArticleView", "RuleEvaluation"]

Provenance: TypeAlias = tuple[tuple[int, int, int], ...]  # (local leaf, first, last)
NearOcc: TypeAlias = tuple[int, int, Provenance]

_NO_TERMS: list[TermHit] = []  # shared, never mutated
_FIRST_THREE = itemgetter(slice(0, 4))  # a four-letter wildcard key -> the three-letter one


class ArticleView:
    """An article during matching: field views, its keys, per-article memos."""

    __slots__ = ("_explained", "_occ", "_present", "_sentences", "fields", "keys")

    def __init__(
        self,
        doc: Document,
        lang: str,
        scoped: tuple[str, ...],
        prefix_keys: frozenset[str],
        three_letter_prefixes: bool,
    ) -> None:
        """``lang``: the analysis language the words are keyed in (the rules' language);
        ``scoped``: the fields some term is restricted to; ``prefix_keys``: the wildcard
        keys pre-selection files rules under (see RuleIndex)."""
        # the lead only when some rule asks for it: it repeats the title and the body's start
        fields = {
            name: FieldView(getattr(doc, name) or "", lang)
            for name in FIELDS
            if name != "lead" or name in scoped
        }
        self.fields = fields
        keys = set(fields["title"].stems)
        keys.update(fields["summary"].stems, fields["body"].stems)
        for name in scoped:
            stems = fields[name].stems
            if stems:
                mark = FIELD_MARK[name]
                keys.update([mark + stem for stem in stems])
        if prefix_keys:
            # every word's wildcard keys (its first four letters, and three when some
            # wildcard has only three), kept per field for the wildcards' positions
            marks: set[str] = set()
            for name in DEFAULT_ORDER:
                four = fields[name].prefix_marks(PREFIX_KEY_SIZE)
                marks.update(four)
                if three_letter_prefixes:
                    marks.update(map(_FIRST_THREE, four))
            for name in scoped:
                mark = FIELD_MARK[name]
                four = fields[name].prefix_marks(PREFIX_KEY_SIZE)
                marks.update([mark + k for k in four])
                if three_letter_prefixes:
                    marks.update([mark + k[:4] for k in four])
            keys.update(marks & prefix_keys)
        if doc.host:  # site:example.org matches news.example.org too
            labels = doc.host.casefold().rstrip(".").split(".")
            site = FIELD_MARK["site"]
            keys.update([site + ".".join(labels[i:]) for i in range(len(labels))])
        if doc.lang:  # lang:pt matches pt-BR
            keys.add(FIELD_MARK["lang"] + doc.lang.casefold().replace("_", "-").split("-")[0])
        keys.add("")  # what an alternative needing fewer keys has in the columns left
        self.keys = keys
        self._sentences: dict[str, list[int]] = {}
        # keyed by the leaf objects themselves: hashing one reads no memory
        self._present: dict[Leaf, bool] = {}
        self._occ: dict[Leaf, dict[str, list[Occurrence]]] = {}
        self._explained: dict[Leaf, list[TermHit]] = {}

    def look_up(self, rules: Iterable[CompiledRule]) -> None:
        """Find every position these rules' terms may ask for, one pass per field."""
        wanted: set[str] = set()
        for rule in rules:
            wanted.update(rule.looked_up)
        for view in self.fields.values():
            view.look_up(wanted)

    def present(self, leaf: Leaf) -> bool:
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

    def occurrences(self, leaf: Leaf) -> dict[str, list[Occurrence]]:
        known = self._occ.get(leaf)
        if known is None:
            known = {}
            for name in leaf.fields:
                view = self.fields.get(name)  # None: site: or lang:, which have no words
                if view is None or not view.stems:
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

    def explain(self, leaf: Leaf) -> list[TermHit]:
        """A term's TermHits (one per field where it occurs), built once per article."""
        known = self._explained.get(leaf)
        if known is None:
            text = leaf.text
            if leaf.stem is not None:  # one plain word: one span per position
                known = []
                stem = leaf.stem
                for name in leaf.fields:
                    view = self.fields.get(name)  # None: site: or lang:, which have no words
                    if view is None:
                        continue
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

    def sentences(self, name: str) -> list[int]:
        """The sentence number of each word of a field (see rules.spans)."""
        known = self._sentences.get(name)
        if known is None:
            known = self._sentences[name] = sentence_numbers(self.fields[name].text)
        return known

    def count(self, leaf: Leaf) -> int:
        """How often a term occurs: in the title and the body, or in the title and the
        summary when there is no body (a summary mostly repeats the body's start)."""
        found = self.occurrences(leaf)
        total = sum(len(occs) for name, occs in found.items() if name != "summary")
        if "summary" in found and ("body" not in leaf.fields or not self.fields["body"].stems):
            total += len(found["summary"])
        return total

    def follow(self, plan: Plan) -> tuple[TermHit, ...]:
        """The explanation of a matching rule, from its plan."""
        terms: list[TermHit] = []
        explained = self._explained
        for leaf in plan:
            found = explained.get(leaf)
            if found is None:
                found = self.explain(leaf) if self.present(leaf) else _NO_TERMS
            terms.extend(found)
        return tuple(terms)

    def explain_hit(self, how: object) -> tuple[TermHit, ...]:
        """A hit's terms when first read (rules.types.Hit): ``how`` is the matching rule's
        plan, or the rule itself when it has none."""
        if isinstance(how, CompiledRule):
            return RuleEvaluation(how, self).terms()
        assert isinstance(how, tuple)
        return self.follow(how)

    def hit(self, rule: CompiledRule) -> Hit:
        """A rule known to match, its terms worked out when first read."""
        return Hit(rule.id, (), self, rule.plan if rule.plan is not None else rule)


_FIELD_ORDER = {name: i for i, name in enumerate(FIELDS)}


def _term_hit(text: str, name: str, occs: list[Occurrence], view: FieldView) -> TermHit:
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


class RuleEvaluation:
    """One rule against one article on word positions: truth, then the explanation."""

    __slots__ = ("doc", "rule")

    def __init__(self, rule: CompiledRule, doc: ArticleView) -> None:
        self.rule = rule
        self.doc = doc

    def truth(self, code: Code) -> bool:
        op = code[0]
        if op == LEAF:
            return self.doc.present(self.rule.leaves[code[1]])
        if op == AND:
            for child in code[1]:  # noqa: SIM110 - a loop is cheaper than all(generator)
                if not self.truth(child):
                    return False
            return True
        if op == OR:
            for child in code[1]:  # noqa: SIM110
                if self.truth(child):
                    return True
            return False
        if op == NOT:
            return not self.truth(code[1])
        if op == ATLEAST:
            times: int = code[2]
            return self.doc.count(self.rule.leaves[code[1][1]]) >= times
        return self.near_true(code)

    def near_true(self, code: Code) -> bool:
        """Is a NEAR true? Like ``any(self.near(code).values())``, without building the
        pairs and their provenance when both operands are terms (the usual NEAR): at
        100,000 dense rules every article evaluates a hundred NEARs, most of them false."""
        _, left_code, right_code, distance, ordered = code
        if left_code[0] != LEAF or right_code[0] != LEAF or distance == SAME_SENTENCE:
            return any(self.near(code).values())
        leaves = self.rule.leaves
        left = self.doc.occurrences(leaves[left_code[1]])
        if not left:
            return False
        right = self.doc.occurrences(leaves[right_code[1]])
        for name, lefts in left.items():
            rights = right.get(name)
            if not rights:
                continue
            for a_first, a_last in lefts:
                for b_first, b_last in rights:
                    if a_last < b_first:
                        gap = b_first - a_last - 1
                    elif b_last < a_first and not ordered:
                        gap = a_first - b_last - 1
                    else:
                        continue
                    if gap <= distance:
                        return True
        return False

    def operand(self, code: Code) -> dict[str, list[NearOcc]]:
        """Positional occurrences of a NEAR operand, with the leaves behind each."""
        op = code[0]
        if op == LEAF:
            local: int = code[1]
            occ = self.doc.occurrences(self.rule.leaves[local])
            return {f: [(a, b, ((local, a, b),)) for a, b in o] for f, o in occ.items()}
        if op == NEAR:
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
            if distance == SAME_SENTENCE:
                sentence = self.doc.sentences(name)
                for a_first, a_last, a_prov in lefts:
                    for b_first, b_last, b_prov in rights:
                        first, last = min(a_first, b_first), max(a_last, b_last)
                        if last < len(sentence) and sentence[first] == sentence[last]:
                            pairs.append((first, last, a_prov + b_prov))
                if pairs:
                    result[name] = pairs
                continue
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
        if op == LEAF:
            local: int = code[1]
            for name, occs in self.doc.occurrences(self.rule.leaves[local]).items():
                out.setdefault((local, name), set()).update(occs)
        elif op == AND:
            for child in code[1]:
                self.collect(child, out)
        elif op == ATLEAST:
            self.collect(code[1], out)
        elif op == OR:
            for child in code[1]:
                if self.truth(child):
                    self.collect(child, out)
        elif op == NEAR:
            for name, pairs in self.near(code).items():
                for _, _, prov in pairs:
                    for local_leaf, first, last in prov:
                        out.setdefault((local_leaf, name), set()).add((first, last))

    def hit(self) -> Hit | None:
        if not self.truth(self.rule.code):
            return None
        return self.doc.hit(self.rule)

    def terms(self) -> tuple[TermHit, ...]:
        """The explanation of a rule known to match."""
        rule = self.rule
        if rule.plan is not None:
            return self.doc.follow(rule.plan)
        # NEAR keeps only the occurrences in its pairs; a term written twice merges per field
        found: dict[tuple[int, str], set[Occurrence]] = {}
        self.collect(rule.code, found)
        merged: dict[tuple[str, str], set[Occurrence]] = {}
        for local, name in sorted(found, key=lambda k: (k[0], _FIELD_ORDER[k[1]])):
            text = rule.leaves[local].text
            merged.setdefault((text, name), set()).update(found[local, name])
        return tuple(
            [
                _term_hit(text, name, sorted(occs), self.doc.fields[name])
                for (text, name), occs in merged.items()
            ]
        )
