"""The values callers hand the rule engine and get back: rules, articles, hits, errors.

Plain Python even where setup.py compiles the rest of rules/: these are what other code
builds, compares and pickles, and compiled they would match no faster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from rules.spans import lead_of
from rules.syntax import QuerySyntaxError

__all__ = ["Document", "Hit", "RuleErrors", "RuleSpec", "TermHit"]


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
    host: str = ""  # the article URL's host, for site:
    lang: str | None = None  # the article's language code (en, fr, pt-BR), for lang:

    @property
    def lead(self) -> str:
        """What ``lead:`` searches: the title and the first paragraph of the body (of the
        summary when there is no body), or its first 60 words when it has no paragraphs."""
        return lead_of(self.title, self.body or self.summary)


# TermHit is a named tuple, immutable and hashable like a frozen dataclass: a 100,000-rule
# index makes hundreds per article, and a frozen dataclass's __init__ took three times as
# long (4% of the matching time at 100,000 rules).
class TermHit(NamedTuple):
    """Where one query term fired in one field."""

    term: str  # the query term as the user wrote it: visit, "United Kingdom", @uk
    field: str  # title | summary | body | source
    positions: tuple[int, ...]  # word positions in that field (every word of a phrase)
    spans: tuple[tuple[int, int], ...]  # (start, end) char offsets, one per occurrence


class Explainer(Protocol):
    """What works out a hit's terms when they are first asked for (rules.evaluate)."""

    def explain_hit(self, how: object) -> tuple[TermHit, ...]: ...


class Hit:
    """A rule that matched an article, and the terms that made it match.

    The terms (with their positions and character spans) are worked out when first read,
    from the article as matching saw it: at 100,000 dense rules an article has hundreds of
    hits, and explaining them all was a fifth of the matching time, though a caller that
    counts or filters hits never reads them. Equal, hashable and picklable by rule id and
    terms, like the named tuple it was.
    """

    __slots__ = ("_how", "_source", "_terms", "rule_id")

    def __init__(
        self,
        rule_id: str,
        terms: tuple[TermHit, ...] = (),
        source: Explainer | None = None,
        how: object = None,
    ) -> None:
        """``terms``: known at once; else ``source.explain_hit(how)`` gives them when read."""
        self.rule_id = rule_id
        self._terms = terms
        self._source = source
        self._how = how

    @property
    def terms(self) -> tuple[TermHit, ...]:
        """Only terms that fired in positive (non-negated) parts."""
        source = self._source
        if source is not None:
            self._terms = source.explain_hit(self._how)
            self._source = self._how = None  # the article's view goes once explained
        return self._terms

    @property
    def matched_terms(self) -> list[str]:
        """Distinct terms in order of first appearance."""
        return list(dict.fromkeys(t.term for t in self.terms))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hit):
            return NotImplemented
        return self.rule_id == other.rule_id and self.terms == other.terms

    def __hash__(self) -> int:
        return hash((self.rule_id, self.terms))

    def __repr__(self) -> str:
        return f"Hit(rule_id={self.rule_id!r}, terms={self.terms!r})"

    def __reduce__(self) -> tuple[type[Hit], tuple[str, tuple[TermHit, ...]]]:
        return (Hit, (self.rule_id, self.terms))


class RuleErrors(ValueError):
    """Every problem in a set of rules, so a user fixes them all in one go."""

    def __init__(self, errors: Sequence[QuerySyntaxError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(e.render() for e in self.errors))
