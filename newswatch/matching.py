"""The config's rules as one compiled index, and what an article looks like to it."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.config import Config
from newswatch.models import Article, CleanArticle, MatchToStore
from rules import ENGINE_VERSION, Document, Hit, RuleIndex, compile_rules

INDEX_SAMPLE_SIZE: Final = 300  # recent articles that tell the rule index which words are rare


class Matcher:
    """The compiled rule index plus where each rule's alerts go, built once per cycle."""

    def __init__(
        self,
        config: Config,
        *,
        sample: Sequence[Document] = (),
        index: RuleIndex | None = None,
    ) -> None:
        """``index``: the config's rules compiled before (see IndexCache), else built here."""
        if index is None:
            index = compile_rules(config.rule_specs(), config.lists, sample=sample)
        self.index: RuleIndex = index
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
                lang=language_of(article),
            )
        )

    def to_store(self, hit: Hit, article: CleanArticle | Article | None = None) -> MatchToStore:
        """A hit as a Match row to write, with its outbox channels, highlight spans and
        (given the article it hit) the article's own words behind each term."""
        highlights: dict[str, list[list[int]]] = {}
        for term in hit.terms:
            highlights.setdefault(term.field, []).extend([s, e] for s, e in term.spans)
        return MatchToStore(
            rule_id=hit.rule_id,
            terms=hit.matched_terms,
            channels=self.channels.get(hit.rule_id, []),
            digest_channels=self.digest_channels.get(hit.rule_id, frozenset()),
            highlights=highlights,
            words=matched_words(hit, article) if article is not None else {},
        )


def matched_words(
    hit: Hit, article: CleanArticle | Article, *, most: int = 5
) -> dict[str, list[str]]:
    """Each term's distinct words as the article wrote them ("Britain" for @uk, "visited"
    for visit), first seen first, case-insensitively distinct, at most `most` per term."""
    doc = document(
        title=article.title,
        summary=article.summary,
        body=article.body,
        source=article.source,
        url=article.url or getattr(article, "feed_url", None),
        lang=language_of(article),
    )
    words: dict[str, dict[str, str]] = {}
    for term in hit.terms:
        text = getattr(doc, term.field, "")
        seen = words.setdefault(term.term, {})
        for start, end in term.spans:
            word = " ".join(text[start:end].split())
            if word and len(seen) < most:
                seen.setdefault(word.casefold(), word)
    return {term: list(found.values()) for term, found in words.items() if found}


def document(
    *, title: str, summary: str, body: str, source: str, url: str | None, lang: str | None = None
) -> Document:
    """What the rules see of an article: its text fields, the outlet's name and domain, the
    URL's host (site:) and its language (lang:)."""
    host = urlsplit(url or "").hostname or ""
    return Document(
        title=title,
        summary=summary,
        body=body,
        source=f"{source} {host}".strip(),
        host=host,
        lang=lang,
    )


def language_of(article: object) -> str | None:
    """The article's language code, once normalisation detects one (issue 17, item 3)."""
    lang = getattr(article, "lang", None)
    return lang if isinstance(lang, str) and lang else None


def index_sample(engine: Engine, *, limit: int = INDEX_SAMPLE_SIZE) -> list[Document]:
    """The newest stored articles as the rules see them.

    Given to the rule index, they let it file each rule under the word that is really
    rarest in this desk's news rather than one guessed from the rules, so fewer rules are
    looked at per article; what matches is the same either way.
    """
    with Session(engine) as session:
        return [
            document(
                title=a.title,
                summary=a.summary,
                body=a.body,
                source=a.source,
                url=a.url,
                lang=language_of(a),
            )
            for a in store.recent_articles(session, limit=limit)
        ]


def rules_fingerprint(config: Config) -> str:
    """What the compiled index depends on: the rules, the lists and the rule engine itself
    (its analyser included), so a changed word list or an upgraded engine builds anew."""
    digest = hashlib.sha256(ENGINE_VERSION.encode())
    for rule in config.rules:
        digest.update(f"{rule.id}\0{rule.query}\0".encode())
    digest.update(json.dumps(config.lists, sort_keys=True).encode())
    return digest.hexdigest()


class IndexCache:
    """The last compiled rule index, kept between monitor cycles of one process.

    Compiling 100,000 rules takes seconds; a cycle whose rules are unchanged builds nothing
    and asks the database for no sample. One index is kept: the config's current one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fingerprint = ""
        self._index: RuleIndex | None = None

    def index_for(self, config: Config, sample: Callable[[], Sequence[Document]]) -> RuleIndex:
        fingerprint = rules_fingerprint(config)
        with self._lock:
            if self._index is None or fingerprint != self._fingerprint:
                self._index = compile_rules(config.rule_specs(), config.lists, sample=sample())
                self._fingerprint = fingerprint
            return self._index


INDEX_CACHE: Final = IndexCache()


def matcher_for(engine: Engine, config: Config) -> Matcher:
    """The cycle's matcher: the index of the last cycle when the rules are unchanged, else
    one built anew and filed by the newest stored articles."""
    index = INDEX_CACHE.index_for(config, lambda: index_sample(engine))
    return Matcher(config, index=index)
