"""The config's rules as one compiled index, and what an article looks like to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.config import Config
from newswatch.models import CleanArticle, MatchToStore
from rules import Document, Hit, RuleIndex, compile_rules

INDEX_SAMPLE_SIZE: Final = 300  # recent articles that tell the rule index which words are rare


class Matcher:
    """The compiled rule index plus where each rule's alerts go, built once per cycle."""

    def __init__(self, config: Config, *, sample: Sequence[Document] = ()) -> None:
        self.index: RuleIndex = compile_rules(config.rule_specs(), config.lists, sample=sample)
        self.channels = {r.id: config.channels_for(r) for r in config.rules}
        # Channels where a rule's matches wait for the digest instead of going out at once.
        self.digest_channels = {
            r.id: frozenset(
                c
                for c in self.channels[r.id]
                if r.mode == "digest" or config.channels[c].mode == "digest"
            )
            for r in config.rules
        }

    def match(self, article: CleanArticle) -> list[Hit]:
        return self.index.match(
            document(
                title=article.title,
                summary=article.summary,
                body=article.body,
                source=article.source,
                url=article.url or article.feed_url,
            )
        )

    def to_store(self, hit: Hit) -> MatchToStore:
        """A hit as a Match row to write, with its outbox channels and highlight spans."""
        highlights: dict[str, list[list[int]]] = {}
        for term in hit.terms:
            highlights.setdefault(term.field, []).extend([s, e] for s, e in term.spans)
        return MatchToStore(
            rule_id=hit.rule_id,
            terms=hit.matched_terms,
            channels=self.channels.get(hit.rule_id, []),
            digest_channels=self.digest_channels.get(hit.rule_id, frozenset()),
            highlights=highlights,
        )


def document(*, title: str, summary: str, body: str, source: str, url: str | None) -> Document:
    """What the rules see of an article: its text fields, and the outlet's name and domain."""
    host = urlsplit(url or "").hostname or ""
    return Document(title=title, summary=summary, body=body, source=f"{source} {host}".strip())


def index_sample(engine: Engine, *, limit: int = INDEX_SAMPLE_SIZE) -> list[Document]:
    """The newest stored articles as the rules see them.

    Given to the rule index, they let it file each rule under the word that is really
    rarest in this desk's news rather than one guessed from the rules, so fewer rules are
    looked at per article; what matches is the same either way.
    """
    with Session(engine) as session:
        return [
            document(title=a.title, summary=a.summary, body=a.body, source=a.source, url=a.url)
            for a in store.recent_articles(session, limit=limit)
        ]


def matcher_for(engine: Engine, config: Config) -> Matcher:
    """The cycle's matcher, its index filed by the newest stored articles."""
    return Matcher(config, sample=index_sample(engine))
