"""Near-duplicate grouping: copies of one story (wire copy under several outlets' URLs,
light rewrites, the same text under another headline) share a story key.

Each article is reduced to word shingles over its title and opening text, sketched with
MinHash (rensa), and its sketch cut into LSH bands. A new article is compared only with the
sketches that share a band with it and were published within the window, so its cost
follows the few candidates it collides with, not the number of stored articles. A
candidate joins the story only when its estimated Jaccard similarity reaches the threshold:
the bands find candidates, the threshold decides.

Where the bands live is the caller's: `MemoryBands` for a list of articles (the
`stories test` command, the bench), the database's story tables for the cycle.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from rensa import RMinHash

NUM_PERM = 128
# 64 bands of 2 rows: a pair at Jaccard 0.2 shares a band 92% of the time, so candidates
# reach well below any useful threshold; the estimate then decides.
BANDS = 64
ROWS = NUM_PERM // BANDS
SEED = 18
SHINGLE = 3  # words per shingle
LEAD_WORDS = 60  # the opening text: what copies of a story share, before outlets add their own
# bench/stories.py: precision and recall are 1.0 from 0.1 to 0.25 on tests/data/stories and
# recall falls from 0.3; 0.2 sits inside that range, leaving room for heavier rewrites.
DEFAULT_THRESHOLD = 0.2
DEFAULT_WINDOW = timedelta(hours=48)
# A story keeps the sketches of its first few copies only: enough for a rewrite of a rewrite
# to find it, and a bound on the comparisons a new article makes however often a story
# (or a feed of near-identical entries) repeats.
SKETCHES_PER_STORY = 8
# An article with fewer distinct shingles than this (a headline, or a headline and one short
# sentence) joins a story only when nearly identical: with so few words, one that differs
# ("earthquake strikes Japan" / "... Chile") is another story.
# A band shared by this many sketches in the window is text that many different articles
# share (a feed's boilerplate, a template's near-identical entries): it takes no more, so a
# lookup never compares an article with more than BANDS * BUCKET_LIMIT sketches.
BUCKET_LIMIT = 16
SHORT_TEXT_SHINGLES = 12
SHORT_TEXT_THRESHOLD = 0.9

_WORD = re.compile(r"\w+")
# Every combining mark, deleted by str.translate (in C) after NFKD: accents folded.
_NO_MARKS: Final = dict.fromkeys(
    c for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))
)


@dataclass(frozen=True, slots=True)
class Sketch:
    """An article's MinHash signature and the LSH band keys cut from it."""

    signature: bytes
    bands: tuple[str, ...]
    shingles: int  # how many distinct shingles: how much text the signature stands for


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored sketch that shares a band with a new article."""

    story_key: str
    signature: bytes


class BandStore(Protocol):
    """Where sketches are kept: a dict for a batch, the database for the cycle."""

    def candidates(
        self, bands: Sequence[str], *, since: datetime, until: datetime
    ) -> list[Candidate]: ...

    def add(self, sketch: Sketch, *, story_key: str, published_at: datetime) -> None: ...


def words(text: str) -> list[str]:
    """Words folded for comparison: case, accents and punctuation do not tell copies apart."""
    folded = text.casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded).translate(_NO_MARKS)
    return _WORD.findall(folded)


def first_words(text: str, count: int) -> list[str]:
    """The first `count` words of a text, without folding all of a long one."""
    head = text[: count * 40]
    found = words(head)
    if len(found) < count and len(head) < len(text):
        found = words(text)  # words or gaps longer than usual: the whole text, then
    return found[:count]


def shingles(title: str, lead: str) -> list[str]:
    """Word 3-grams of the title and of the opening text, kept apart so a new headline
    changes only the title's few shingles."""
    out: list[str] = []
    for part in (words(title), first_words(lead, LEAD_WORDS + 1)[:LEAD_WORDS]):
        if len(part) < SHINGLE:
            out += [" ".join(part)] if part else []
            continue
        out += [" ".join(part[i : i + SHINGLE]) for i in range(len(part) - SHINGLE + 1)]
    return out


def opening_text(summary: str, body: str) -> str:
    """The text copies are compared on: the body when the feed carries one, else the summary."""
    return body if len(body) > len(summary) else summary


def sketch(title: str, lead: str) -> Sketch:
    made = shingles(title, lead)
    minhash = RMinHash(num_perm=NUM_PERM, seed=SEED)
    minhash.update(made or [""])
    values = array("I", minhash.digest())
    bands = tuple(
        f"{i:02d}"
        + hashlib.blake2b(values[i * ROWS : (i + 1) * ROWS].tobytes(), digest_size=8).hexdigest()
        for i in range(BANDS)
    )
    return Sketch(signature=values.tobytes(), bands=bands, shingles=len(set(made)))


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal slots."""
    left, right = array("I", a), array("I", b)
    if len(left) != len(right) or not left:
        return 0.0
    return sum(x == y for x, y in zip(left, right, strict=True)) / len(left)


def new_story_key(seed: str) -> str:
    return hashlib.sha256(f"story\x00{seed}".encode()).hexdigest()[:32]


def assign(
    store: BandStore,
    article_sketch: Sketch,
    *,
    published_at: datetime,
    seed: str,
    threshold: float = DEFAULT_THRESHOLD,
    window: timedelta = DEFAULT_WINDOW,
) -> str:
    """The story key for one article: the most similar story within the window whose
    similarity reaches the threshold (SHORT_TEXT_THRESHOLD at least for a headline-only
    article), else a new story (keyed from `seed`). The article's
    sketch is then added (up to SKETCHES_PER_STORY per story), so later copies find it."""
    if article_sketch.shingles < SHORT_TEXT_SHINGLES:
        threshold = max(threshold, SHORT_TEXT_THRESHOLD)
    best_key, best = "", 0.0
    sketches: dict[str, int] = {}
    for candidate in store.candidates(
        article_sketch.bands, since=published_at - window, until=published_at + window
    ):
        sketches[candidate.story_key] = sketches.get(candidate.story_key, 0) + 1
        score = similarity(article_sketch.signature, candidate.signature)
        if score >= threshold and score > best:
            best_key, best = candidate.story_key, score
    if not best_key:
        key = new_story_key(seed)
        store.add(article_sketch, story_key=key, published_at=published_at)
        return key
    if sketches[best_key] < SKETCHES_PER_STORY:
        store.add(article_sketch, story_key=best_key, published_at=published_at)
    return best_key


@dataclass
class MemoryBands:
    """Sketches held in memory: a batch's own, and those `seed` adds from the store;
    `added` lists the ones `assign` added, for the store to keep."""

    _by_band: dict[str, list[tuple[datetime, Candidate]]] = field(default_factory=dict)

    def candidates(
        self, bands: Sequence[str], *, since: datetime, until: datetime
    ) -> list[Candidate]:
        seen: dict[tuple[str, bytes], Candidate] = {}
        for band in bands:
            for when, candidate in self._by_band.get(band, ()):
                if since <= when <= until:
                    seen[(candidate.story_key, candidate.signature)] = candidate
        return list(seen.values())

    # (sketch, story, published, the bands it was filed under: those not already full)
    added: list[tuple[Sketch, str, datetime, list[str]]] = field(default_factory=list)

    def add(self, sketch: Sketch, *, story_key: str, published_at: datetime) -> None:
        filed = self.seed(sketch.bands, story_key, sketch.signature, published_at)
        self.added.append((sketch, story_key, published_at, filed))

    def seed(
        self, bands: Iterable[str], story_key: str, signature: bytes, published_at: datetime
    ) -> list[str]:
        """Hold a sketch under its bands, skipping any band already holding BUCKET_LIMIT
        sketches; returns the bands it was filed under."""
        entry = (published_at, Candidate(story_key=story_key, signature=signature))
        filed = []
        for band in bands:
            bucket = self._by_band.setdefault(band, [])
            if len(bucket) < BUCKET_LIMIT:
                bucket.append(entry)
                filed.append(band)
        return filed


@dataclass(frozen=True, slots=True)
class StoryInput:
    """One article as the grouping reads it."""

    id: str
    title: str
    summary: str
    body: str
    published_at: datetime


def group(
    articles: Iterable[StoryInput],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    window: timedelta = DEFAULT_WINDOW,
) -> dict[str, str]:
    """Story key per article id, articles taken in the order they were published (as a
    monitor would see them arrive)."""
    bands = MemoryBands()
    keys: dict[str, str] = {}
    for article in sorted(articles, key=lambda a: a.published_at):
        article_sketch = sketch(article.title, opening_text(article.summary, article.body))
        keys[article.id] = assign(
            bands,
            article_sketch,
            published_at=article.published_at,
            seed=article.id,
            threshold=threshold,
            window=window,
        )
    return keys
