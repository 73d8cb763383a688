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
   (rules/preselect.py); only candidates are evaluated.
4. For most rules (plain words combined with AND/OR, plain words negated) the keys decide
   the rule exactly, so a candidate is a match unless a negated word is present. The others
   (phrases, NEAR, wildcards, ``!Word``, scoped fields) are evaluated on word positions;
   the positions every candidate may ask for are found in one pass per field.
5. Only matching rules pay for the explanation (positions and character spans per term and
   field), and only when a hit's terms are read (rules.types.Hit): a caller that counts or
   filters hits pays nothing for it. A term's explanation is built once per article,
   however many rules use it.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from sys import intern

from mypy_extensions import mypyc_attr

from rules import analyze
from rules.compile import CompiledRule, RuleCompiler, parse_rules
from rules.evaluate import ArticleView, RuleEvaluation
from rules.keys import MARKS, PREFIX_MARK, has_three_letter_prefixes, ordered
from rules.preselect import Anchors, PreSelection
from rules.syntax import Node
from rules.types import Document, Hit, RuleErrors, RuleSpec

__all__ = ["LanguageIndex", "RuleIndex", "compile_rules"]

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


# rules from which an index is frozen out of garbage collections (see _out_of_collections)
_FROZEN_FROM = 5_000


def _common_keys(lang: str) -> frozenset[str]:
    """The common words' keys in the language compiled (worked out per build, not at
    import: the look-ups would load a dictionary for commands that match nothing)."""
    return frozenset(analyze.key_in(word, lang) for word in _COMMON_WORDS.split())


@mypyc_attr(serializable=True)  # picklable when compiled (setup.py)
class RuleIndex:
    """The rules compiled per analysis language: an article in a language is matched only
    through that language's keys (rules.elements.word_patterns).

    The default language (the one an article of unknown language is read in) is compiled
    at once; another language when the first article in it comes, so a process loads the
    dictionaries of the languages it really sees, each once.
    """

    def __init__(
        self,
        rules: list[RuleSpec],
        lists: Mapping[str, Sequence[str]],
        sample: tuple[Document, ...],
        default_language: str,
        compiled: LanguageIndex,
    ) -> None:
        self._specs = rules
        self._lists = lists
        self._sample = sample
        self._default = default_language
        self._ids = sorted(spec.id for spec in rules)
        self._known = frozenset(self._ids)
        self._by_language = {default_language: compiled}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._known

    @property
    def rule_ids(self) -> list[str]:
        return list(self._ids)

    def language(self, doc: Document) -> str:
        """The analysis language ``doc`` is matched in (its own, else the default)."""
        return self._default if not doc.lang else analyze.language_of(doc.lang)

    def _in(self, doc: Document) -> LanguageIndex:
        lang = self.language(doc)
        index = self._by_language.get(lang)
        if index is None:
            with _collector_paused():  # as compile_rules: no cycles, a million objects
                parsed, _ = parse_rules(self._specs, self._lists, lang)
                index = self._by_language[lang] = _build(parsed, self._sample, lang)
                del parsed
            _out_of_collections(len(index))
        return index

    def candidates(self, doc: Document) -> list[str]:
        """Ids of the rules pre-selection would evaluate for ``doc`` (for tests and tuning)."""
        return self._in(doc).candidates(doc)

    def match_with_stats(self, doc: Document) -> tuple[list[Hit], int]:
        """The hits, sorted by rule id, and how many candidate rules were evaluated."""
        return self._in(doc).match_with_stats(doc)

    def match(self, doc: Document) -> list[Hit]:
        """Every rule that matches ``doc``, sorted by rule id, with the terms that fired."""
        return self._in(doc).match_with_stats(doc)[0]

    def match_rule(self, rule_id: str, doc: Document) -> Hit | None:
        """Evaluate one rule on positions alone, skipping pre-selection (a cross-check)."""
        return self._in(doc).match_rule(rule_id, doc)


@mypyc_attr(serializable=True)
class LanguageIndex:
    """Rules compiled in one language; ``match`` costs about the article's length plus its
    real matches."""

    def __init__(
        self,
        rules: list[CompiledRule],
        anchors: Anchors,
        prefix_keys: frozenset[str],
        scoped: Iterable[str],
        lang: str,
    ) -> None:
        self._lang = lang
        self._rules = rules  # sorted by id, so candidate numbers sort like ids
        self._pre_selection = PreSelection(anchors)
        self._prefix_keys = prefix_keys
        self._three_letter_prefixes = has_three_letter_prefixes(prefix_keys)
        self._scoped = ordered(frozenset(scoped))
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
        view = self._view(doc)
        return [self._rules[i].id for i in sorted(self._candidates(view))]

    def _view(self, doc: Document) -> ArticleView:
        return ArticleView(
            doc, self._lang, self._scoped, self._prefix_keys, self._three_letter_prefixes
        )

    def _candidates(self, view: ArticleView) -> set[int]:
        return self._pre_selection.candidates(view.keys)

    def match_with_stats(self, doc: Document) -> tuple[list[Hit], int]:
        """The hits, sorted by rule id, and how many candidate rules were evaluated."""
        view = self._view(doc)
        chosen = self._candidates(view)
        hits: list[Hit] = []
        rules = self._rules
        keys = view.keys
        # positions only for the rules evaluated on them: the others' hits look theirs up
        # if and when they are explained (most callers count or filter hits)
        evaluated = [rules[rule_no] for rule_no in chosen if rules[rule_no].forbidden is None]
        if len(evaluated) > 1:
            view.look_up(evaluated)
        for rule_no in sorted(chosen):
            rule = rules[rule_no]
            forbidden = rule.forbidden
            if forbidden is not None:  # pre-selection decided the positive part
                if not keys.isdisjoint(forbidden):
                    continue
                hits.append(view.hit(rule))
                continue
            hit = RuleEvaluation(rule, view).hit()
            if hit is not None:
                hits.append(hit)
        return hits, len(chosen)

    def match(self, doc: Document) -> list[Hit]:
        """Every rule that matches ``doc``, sorted by rule id, with the terms that fired."""
        return self.match_with_stats(doc)[0]

    def match_rule(self, rule_id: str, doc: Document) -> Hit | None:
        """Evaluate one rule on positions alone, skipping pre-selection (a cross-check)."""
        rule = self._rules[self._by_id[rule_id]]
        return RuleEvaluation(rule, self._view(doc)).hit()


def _anchor_cost(
    key: str, rule_counts: Mapping[str, int], seen: Counter[str] | None, common: frozenset[str]
) -> tuple[int, int, int, int]:
    """Smaller is rarer: seldom seen in the sample articles; then not a wildcard nor a
    common word, then used by the fewest rules, then longest."""
    word = key.lstrip(MARKS)
    kind = 2 if PREFIX_MARK in key else 1 if word in common or len(word) < 3 else 0
    return (seen[key] if seen is not None else 0, kind, rule_counts[key], -len(word))


def _sample_frequencies(
    sample: Iterable[Document], prefix_keys: frozenset[str], scoped: Iterable[str], lang: str
) -> Counter[str]:
    """In how many sample articles each key appears (document frequency), the sample read
    in the language being compiled."""
    fields = ordered(frozenset(scoped))
    three = has_three_letter_prefixes(prefix_keys)
    seen: Counter[str] = Counter()
    for doc in sample:
        seen.update(ArticleView(doc, lang, fields, prefix_keys, three).keys)
    return seen


def compile_rules(
    rules: Iterable[RuleSpec],
    lists: Mapping[str, Sequence[str]] | None = None,
    *,
    sample: Iterable[Document] = (),
    default_language: str = analyze.DEFAULT_LANGUAGE,
) -> RuleIndex:
    """Parse and index every rule; raises :class:`RuleErrors` listing all problems.

    ``sample`` (optional) is a few hundred recent articles: with them each rule is filed under
    the word that really is rarest in the news rather than one guessed from the rules, so
    fewer rules are looked at per article. Matching results are the same either way.
    ``default_language`` is the analysis language of an article whose language is unknown.
    """
    specs = list(rules)
    samples = tuple(sample)
    with _collector_paused():
        parsed, errors = parse_rules(specs, lists, default_language)
        if errors:
            raise RuleErrors(errors)
        compiled = _build(parsed, samples, default_language)
        # the syntax trees go before the collector is back, so its first pass does not
        # scan them (they hold no cycles: freed as soon as the last reference goes)
        del parsed
    index = RuleIndex(specs, dict(lists or {}), samples, default_language, compiled)
    _out_of_collections(len(specs))
    return index


def _out_of_collections(rules: int) -> None:
    """Take a large index out of the garbage collector's reach (gc.freeze), with whatever
    else lives now: it lives as long as the process matches with it and holds no cycles
    (refcounting still frees it), yet every full collection traversed all of it, 80 ms at
    100,000 rules, a tenth of the dense matching time. Garbage is collected first, so no
    cycle is frozen; a small index is left alone (it is cheap to scan, and freezing each
    of many would cost a full collection apiece)."""
    if rules >= _FROZEN_FROM:
        gc.collect()
        gc.freeze()


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


def _build(
    parsed: list[tuple[RuleSpec, Node]], sample: Sequence[Document], lang: str
) -> LanguageIndex:
    parsed.sort(key=lambda item: item[0].id)
    builder = RuleCompiler()
    compiled: list[CompiledRule] = []
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
        if all(PREFIX_MARK in k for k in alt)
        for k in alt
    )
    seen = _sample_frequencies(sample, anchored_prefixes, builder.scoped, lang) if sample else None
    common = _common_keys(lang)
    postings: dict[str, tuple[list[int], list[tuple[str, ...]]]] = {}
    costs: dict[str, tuple[int, int, int, int]] = {}
    for rule_no, alternatives in enumerate(all_alternatives):
        for alternative in alternatives:
            usable = [k for k in alternative if PREFIX_MARK not in k]
            if not usable:  # only wildcards: filed under one, the article's keys need them
                usable = list(alternative)
            for key in usable:
                if key not in costs:
                    costs[key] = _anchor_cost(key, rule_counts, seen, common)
            ranked = sorted(usable, key=costs.__getitem__)
            rule_nos, required = postings.setdefault(intern(ranked[0]), ([], []))
            rule_nos.append(rule_no)
            required.append(tuple(ranked[1:]))  # the keys left to check once it is there
    return LanguageIndex(compiled, postings, anchored_prefixes, builder.scoped, lang)
