"""The values callers hand the rule engine and get back: rules, articles, hits, errors.

Plain Python even where setup.py compiles the rest of rules/: these are what other code
builds, compares and pickles, and compiled they would match no faster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

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
