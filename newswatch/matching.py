"""The config's rules as one compiled index, and what an article looks like to it."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlmodel import Session

from newswatch import store
from newswatch.config import Config
from newswatch.lemmas import install as install_lemma_dictionaries
from newswatch.models import Article, CleanArticle, MatchToStore
from rules import COMPILED, ENGINE_VERSION, Document, Hit, RuleIndex, compile_rules

install_lemma_dictionaries()  # decoded once per machine (newswatch.lemmas)

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
            index = compile_rules(
                config.rule_specs(),
                config.lists,
                sample=sample,
                default_language=config.monitor.default_language,
            )
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
        return self.index.match(article_document(article))

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
    doc = article_document(article)
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
    URL's host (site:) and its language (the words are lemmatised in it; ``lang:fr`` reads it)."""
    host = urlsplit(url or "").hostname or ""
    return Document(
        title=title,
        summary=summary,
        body=body,
        source=f"{source} {host}".strip(),
        host=host,
        lang=lang,
    )


def article_document(article: CleanArticle | Article) -> Document:
    """What the rules see of a new or a stored article: one place, so the cycle, a backtest
    and a rule test match the same text. A new article without a link of its own is known
    by its feed's URL (a stored one keeps no feed URL)."""
    feed_url = article.feed_url if isinstance(article, CleanArticle) else None
    return document(
        title=article.title,
        summary=article.summary,
        body=article.body,
        source=article.source,
        url=article.url or feed_url,
        lang=article.lang,
    )


def index_sample(engine: Engine, *, limit: int = INDEX_SAMPLE_SIZE) -> list[Document]:
    """The newest stored articles as the rules see them.

    Given to the rule index, they let it file each rule under the word that is really
    rarest in this desk's news rather than one guessed from the rules, so fewer rules are
    looked at per article; what matches is the same either way.
    """
    with Session(engine) as session:
        return [article_document(a) for a in store.recent_articles(session, limit=limit)]


def rules_fingerprint(config: Config) -> str:
    """What the compiled index depends on: the rules, the lists and the rule engine itself
    (its analyser included, compiled or not, and the Python that pickles it), so a changed
    word list or an upgraded engine builds anew."""
    digest = hashlib.sha256(f"{ENGINE_VERSION}\0{COMPILED}\0{sys.version}\0".encode())
    for rule in config.rules:
        digest.update(f"{rule.id}\0{rule.query}\0".encode())
    digest.update(json.dumps(config.lists, sort_keys=True).encode())
    digest.update(config.monitor.default_language.encode())
    return digest.hexdigest()


INDEX_FILE: Final = "rule-index.pickle"


class IndexCache:
    """The last compiled rule index, kept between monitor cycles.

    Compiling 100,000 rules takes seconds; a cycle whose rules are unchanged builds nothing
    and asks the database for no sample. In one process the index stays in memory; Prefect
    runs each flow run in a process of its own, so with a SQLite database the index is also
    kept in a file beside it (:data:`INDEX_FILE`, the fingerprint first), which the next
    process reads in a fraction of the build's time. One index is kept: the config's current.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fingerprint = ""
        self._index: RuleIndex | None = None

    def index_for(
        self,
        config: Config,
        sample: Callable[[], Sequence[Document]],
        *,
        folder: Path | None = None,
    ) -> RuleIndex:
        """``folder``: where the index file lives (None: memory only)."""
        fingerprint = rules_fingerprint(config)
        with self._lock:
            if self._index is None or fingerprint != self._fingerprint:
                index = _read_index(folder / INDEX_FILE, fingerprint) if folder else None
                if index is None:
                    index = compile_rules(
                        config.rule_specs(),
                        config.lists,
                        sample=sample(),
                        default_language=config.monitor.default_language,
                    )
                    if folder is not None:
                        _write_index(folder / INDEX_FILE, fingerprint, index)
                self._index, self._fingerprint = index, fingerprint
            return self._index


def _read_index(path: Path, fingerprint: str) -> RuleIndex | None:
    """The index in ``path`` when it was built from these very rules, else None."""
    try:
        with path.open("rb") as file:
            if file.readline().decode("ascii", "replace").strip() != fingerprint:
                return None
            # our own file, beside the database it serves: no more trusted than the database;
            # a million objects and no garbage cycles, so the collector waits (7x faster)
            collecting = gc.isenabled()
            gc.disable()
            try:
                index = pickle.load(file)  # noqa: S301 - written by _write_index for these rules
            finally:
                if collecting:
                    gc.enable()
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
        return None  # missing, unreadable or from another engine: built anew
    return index if isinstance(index, RuleIndex) else None


def _write_index(path: Path, fingerprint: str, index: RuleIndex) -> None:
    """Write it whole or not at all: another process may be reading the old one."""
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=".rule-index-")
    except OSError:  # a read-only folder: the next process builds it again
        return
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(fingerprint.encode("ascii") + b"\n")
            pickle.dump(index, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(name, path)
    except OSError:  # a full disk: the next process builds it again
        Path(name).unlink(missing_ok=True)


INDEX_CACHE: Final = IndexCache()


def index_folder(engine: Engine) -> Path | None:
    """The folder of a SQLite database file: where its rule index file is kept."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).parent


def matcher_for(engine: Engine, config: Config) -> Matcher:
    """The cycle's matcher: the index of the last cycle when the rules are unchanged, else
    one built anew and filed by the newest stored articles."""
    index = INDEX_CACHE.index_for(config, lambda: index_sample(engine), folder=index_folder(engine))
    return Matcher(config, index=index)
