"""Warnings about rules that are valid but would flood a desk, for `newswatch rules check`.

Two kinds, both warnings and never errors (a desk may want a broad rule on purpose):

* every term a rule needs present is a stop word (``the AND of``): it would match nearly
  every article. Stop words come from the ``stop-words`` package, in the languages newswatch
  lemmatises; a capitalised term is a name (``US``, ``May``), never a stop word.
* the rule matches more than :data:`FLOOD_SHARE` of the stored articles (the newest
  :data:`SAMPLE_SIZE` of them): it would send an alert for one article in twenty. A few
  stored articles say little about a share (3 of 28 is 11%, and as likely a quiet rule on a
  busy day), so the warning needs the share's lower confidence bound (Wilson, 95%) above it.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from newswatch.config import Config
from rules import Document, Node, RuleIndex, iter_terms, parse
from rules.analyze import norm_of
from rules.syntax import Not, Term

__all__ = ["FLOOD_SHARE", "MIN_ARTICLES", "SAMPLE_SIZE", "RuleWarning", "rule_warnings"]

FLOOD_SHARE: Final = 0.05
SAMPLE_SIZE: Final = 2000  # the newest stored articles a rule is tried on
MIN_ARTICLES: Final = 20  # fewer stored articles say nothing about a rule's share
_Z: Final = 1.96  # a 95% confidence bound
# the languages whose words the engine lemmatises (issue 17): their function words
_STOP_WORD_LANGUAGES: Final = ("en", "fr", "de", "es", "it", "pt", "nl")


@dataclass(frozen=True, slots=True)
class RuleWarning:
    rule_id: str
    message: str


@functools.cache
def stop_words() -> frozenset[str]:
    """Every stop word of the languages above, folded as the engine folds words."""
    from stop_words import get_stop_words  # ~1,000 words a language: read when checking only

    return frozenset(norm_of(w) for lang in _STOP_WORD_LANGUAGES for w in get_stop_words(lang))


def _positive_terms(node: Node) -> list[str]:
    """The words of the terms a match needs (negated ones left out), as the user wrote them."""
    negated = {id(term) for term in _negated_terms(node)}
    return [term.text for term in iter_terms(node) if id(term) not in negated]


def _negated_terms(node: Node) -> Iterable[Term]:
    if isinstance(node, Not):
        yield from iter_terms(node.child)
    for child in getattr(node, "children", ()):
        yield from _negated_terms(child)


def _is_stop_word(text: str, words: frozenset[str]) -> bool:
    if not text.isalpha() or not text.islower():  # names, phrases, lists, wildcards, fields
        return False
    return norm_of(text) in words


def stop_word_warnings(config: Config) -> list[RuleWarning]:
    words = stop_words()
    found: list[RuleWarning] = []
    for rule in config.rules:
        terms = _positive_terms(parse(rule.query, lists=config.lists))
        if terms and all(_is_stop_word(t, words) for t in terms):
            listed = ", ".join(dict.fromkeys(terms))
            found.append(
                RuleWarning(
                    rule.id,
                    f"every term it needs is a stop word ({listed}): it would match almost "
                    "every article",
                )
            )
    return found


def share_lower_bound(count: int, total: int) -> float:
    """The least share of all articles a rule could match, given it matched ``count`` of
    ``total``: the lower end of the Wilson score interval (95%)."""
    if total == 0:
        return 0.0
    share = count / total
    centre = share + _Z * _Z / (2 * total)
    spread = _Z * math.sqrt(share * (1 - share) / total + _Z * _Z / (4 * total * total))
    return max(0.0, (centre - spread) / (1 + _Z * _Z / total))


def flood_warnings(index: RuleIndex, articles: Sequence[Document]) -> list[RuleWarning]:
    """Rules that surely match more than FLOOD_SHARE of ``articles`` (none with too few)."""
    if len(articles) < MIN_ARTICLES:
        return []
    counts: Counter[str] = Counter()
    for doc in articles:
        counts.update(hit.rule_id for hit in index.match(doc))
    return [
        RuleWarning(
            rule_id,
            f"matched {count:,} of the {len(articles):,} newest stored articles "
            f"({count / len(articles):.0%}, more than {FLOOD_SHARE:.0%}): it would alert "
            "on too much of the news",
        )
        for rule_id, count in sorted(counts.items())
        if share_lower_bound(count, len(articles)) > FLOOD_SHARE
    ]


def rule_warnings(
    config: Config, index: RuleIndex, articles: Sequence[Document]
) -> list[RuleWarning]:
    """Every warning, in the order of the config's rules."""
    order = {rule.id: i for i, rule in enumerate(config.rules)}
    found = stop_word_warnings(config) + flood_warnings(index, articles)
    return sorted(found, key=lambda w: order.get(w.rule_id, 0))
