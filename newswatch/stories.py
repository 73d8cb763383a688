"""Near-duplicate grouping: copies of one story (wire copy under several outlets' URLs,
light rewrites, the same text under another headline) share a story key.

Each article is reduced to word shingles over its title and opening text, sketched with
MinHash (rensa), and its sketch cut into LSH bands. A new article is compared only with the
sketches that share a band with it and were published within the window, so its cost
follows the few candidates it collides with, not the number of stored articles. A
candidate joins the story only when its estimated Jaccard similarity reaches the threshold:
the bands find candidates, the threshold decides.

The bands live in memory (`MemoryBands`): for a list of articles (the `stories test`
command, the bench), or for a cycle, seeded with the stored sketches of its window
(store/stories.py); only the sketches are stored, the bands are cut from them.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

import numpy as np
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
# MemoryBands: the recent keys (a dict) join the sorted array when there are this many, or
# an eighth of the array: a small dict stays quick, and the copies cost little in all.
_MERGE_AT = 65_536
if ROWS != 2:
    raise ImportError("a band is one 64-bit word of the signature (band_keys): ROWS must be 2")
_SALTS: Final = np.array(
    [
        int.from_bytes(hashlib.blake2b(b"band%d" % i, digest_size=8).digest(), "little")
        for i in range(BANDS)
    ],
    dtype=np.uint64,
)

_WORD = re.compile(r"\w+")


@functools.cache
def _no_marks() -> dict[int, None]:
    """Every combining mark, deleted by str.translate (in C) after NFKD: accents folded.

    Built on the first text that is not ASCII, not at import: reading all of Unicode costs
    0.13 s, paid by every command and child process that imports the models otherwise. The
    digest workers' forkserver builds it once for them (newswatch.steps.worker_start).
    """
    return dict.fromkeys(c for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c)))


@dataclass(frozen=True, slots=True)
class Sketch:
    """An article's MinHash signature; its LSH bands are cut from it where it is looked up
    (`band_keys`), so they never travel or get stored."""

    signature: bytes
    shingles: int  # how many distinct shingles: how much text the signature stands for


@dataclass(frozen=True, slots=True)
class Candidate:
    """A held sketch that shares a band with a new article."""

    story_key: str
    signature: bytes


class BandStore(Protocol):
    """Where sketches are looked up and kept (MemoryBands)."""

    def candidates(
        self, sketch: Sketch, *, since: datetime, until: datetime
    ) -> list[Candidate]: ...

    def add(self, sketch: Sketch, *, story_key: str, published_at: datetime) -> None: ...


def words(text: str) -> list[str]:
    """Words folded for comparison: case, accents and punctuation do not tell copies apart."""
    folded = text.casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded).translate(_no_marks())
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
    return Sketch(signature=values.tobytes(), shingles=len(set(made)))


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
        article_sketch, since=published_at - window, until=published_at + window
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


class MemoryBands:
    """Sketches held in memory, found again by their LSH bands: a list of articles' own (the
    `stories test` command), or a cycle's window of stored sketches (store/stories.py).

    A band of ROWS (2) 32-bit slots is one 64-bit word of the signature, so the bands need
    no hashing: each word, salted by its band's number, is a key in one sorted numpy array
    (the position of its sketch beside it), plus a dict of the keys added since the array
    was built. A sketch costs about 1 kB there, where a dict of 64 keys costs several.

    One binary search per band and article would miss the CPU's cache at every step of a
    large array, so `prefetch` looks up a whole batch's bands at once (sorted, they walk the
    array in order) and `seed_many` files many sketches with one sort; an article's own
    lookups are then a few dict reads.

    `added` lists the sketches `assign` added, for the caller to store.
    """

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)  # band keys, sorted
        self._owners = np.empty(0, dtype=np.int64)  # the position of each key's sketch
        # band key -> position(s) not in the array yet: one (an int: no list to allocate for
        # the many keys only one sketch has) or a list
        self._recent: dict[int, int | list[int]] = {}
        self._recent_size = 0
        # signature -> (sketches held per band in the array, their positions per band hit)
        self._prefetched: dict[bytes, tuple[list[int], list[list[int]]]] = {}
        self._looked_up: tuple[bytes, list[int], list[int | list[int] | None]] | None = None
        self._stories: list[str] = []
        self._signatures: list[bytes] = []
        self._published = array("d")  # POSIX seconds
        self.added: list[tuple[Sketch, str, datetime]] = []

    def __len__(self) -> int:
        return len(self._stories)

    def candidates(self, sketch: Sketch, *, since: datetime, until: datetime) -> list[Candidate]:
        """The sketches published within [since, until] that share a band with `sketch`."""
        low, high = since.timestamp(), until.timestamp()
        published, stories, signatures = self._published, self._stories, self._signatures
        seen: dict[tuple[str, bytes], Candidate] = {}
        buckets = self._in_array(sketch.signature)[1]
        for bucket in self._in_recent(sketch.signature)[1]:
            if bucket is not None:
                buckets.append([bucket] if isinstance(bucket, int) else bucket)
        for bucket in buckets:
            for position in bucket:
                if low <= published[position] <= high:
                    key = (stories[position], signatures[position])
                    if key not in seen:
                        seen[key] = Candidate(story_key=key[0], signature=key[1])
        return list(seen.values())

    def add(self, sketch: Sketch, *, story_key: str, published_at: datetime) -> None:
        self.seed(sketch.signature, story_key, published_at)
        self.added.append((sketch, story_key, published_at))

    def take_added(self) -> list[tuple[Sketch, str, datetime]]:
        """The sketches `assign` added since the last call (to be stored)."""
        added, self.added = self.added, []
        return added

    def seed(self, signature: bytes, story_key: str, published_at: datetime) -> None:
        """Hold a sketch under its bands, skipping any band already holding BUCKET_LIMIT
        sketches."""
        position = len(self._stories)
        self._stories.append(story_key)
        self._signatures.append(signature)
        self._published.append(published_at.timestamp())
        held = self._in_array(signature)[0]
        recent = self._recent
        keys, buckets = self._in_recent(signature)
        self._looked_up = None  # the buckets change now
        if buckets.count(None) == BANDS and max(held) < BUCKET_LIMIT:  # the usual: all new
            recent.update(dict.fromkeys(keys, position))
            self._recent_size += BANDS
            return
        for key, count, bucket in zip(keys, held, buckets, strict=True):
            if bucket is None:
                if count < BUCKET_LIMIT:
                    recent[key] = position
                    self._recent_size += 1
            elif isinstance(bucket, int):
                if count + 1 < BUCKET_LIMIT:
                    recent[key] = [bucket, position]
                    self._recent_size += 1
            elif count + len(bucket) < BUCKET_LIMIT:
                bucket.append(position)
                self._recent_size += 1

    def seed_many(self, rows: Sequence[tuple[bytes, str, datetime]]) -> None:
        """`seed` for many (signature, story, published) at once: one sort files them all."""
        if not rows:
            return
        first = len(self._stories)
        for signature, story_key, published_at in rows:
            self._stories.append(story_key)
            self._signatures.append(signature)
            self._published.append(published_at.timestamp())
        keys = _keys_of([signature for signature, _, _ in rows])
        owners = np.repeat(np.arange(first, first + len(rows), dtype=np.int64), BANDS)
        self._rebuild(keys, owners)

    def prefetch(self, signatures: Sequence[bytes]) -> None:
        """Look up these sketches' bands in the array in one pass, for the `candidates` and
        `seed` calls of a batch about to be grouped (the recent keys join the array first
        when there are many)."""
        if self._recent_size > max(_MERGE_AT, len(self._keys) // 8):
            self._merge_recent()
        self._prefetched = {}
        wanted = list(dict.fromkeys(signatures))
        if not len(self._keys) or not wanted:
            return
        needles = _keys_of(wanted)
        order = np.argsort(needles)
        ordered = needles[order]
        left = np.empty_like(order)
        right = np.empty_like(order)
        left[order] = np.searchsorted(self._keys, ordered)
        right[order] = np.searchsorted(self._keys, ordered, "right")
        held = (right - left).reshape(-1, BANDS)
        hits: list[list[list[int]]] = [[] for _ in wanted]
        for needle in np.flatnonzero(right > left).tolist():
            hits[needle // BANDS].append(self._owners[left[needle] : right[needle]].tolist())
        for signature, counts, found in zip(wanted, held.tolist(), hits, strict=True):
            self._prefetched[signature] = (counts, found)

    def truncate(self, size: int) -> None:
        """Forget every sketch held after the first `size` (a transaction that stored them
        rolled back), and the `added` list."""
        self.added = []
        if size >= len(self._stories):
            return
        self._prefetched, self._looked_up = {}, None
        if len(self._owners) and int(self._owners.max()) >= size:
            keep = self._owners < size
            self._keys, self._owners = self._keys[keep], self._owners[keep]
        keys, owners = self._recent_pairs()
        self._recent, self._recent_size = {}, 0
        for key, position in zip(keys, owners, strict=True):
            if position < size:
                bucket = self._recent.get(key)
                self._recent[key] = position if bucket is None else [*_positions(bucket), position]
                self._recent_size += 1
        del self._stories[size:], self._signatures[size:], self._published[size:]

    def _recent_pairs(self) -> tuple[list[int], list[int]]:
        """The recent (key, position) pairs, as two lists."""
        keys: list[int] = []
        owners: list[int] = []
        for key, bucket in self._recent.items():
            if isinstance(bucket, int):
                keys.append(key)
                owners.append(bucket)
            else:
                keys += [key] * len(bucket)
                owners += bucket
        return keys, owners

    def _in_recent(self, signature: bytes) -> tuple[list[int], list[int | list[int] | None]]:
        """The signature's band keys and their buckets among the recent keys (the last
        answer again when `seed` follows `candidates` for one sketch)."""
        if self._looked_up is not None and self._looked_up[0] == signature:
            return self._looked_up[1], self._looked_up[2]
        keys = band_keys(signature).tolist()
        buckets = list(map(self._recent.get, keys))
        self._looked_up = (signature, keys, buckets)
        return keys, buckets

    def _in_array(self, signature: bytes) -> tuple[list[int], list[list[int]]]:
        """Per band, how many sketches the array holds under the signature's key; and the
        positions of those it holds (prefetched, or looked up now)."""
        if not len(self._keys):
            return [0] * BANDS, []
        found = self._prefetched.get(signature)
        if found is not None:
            return found[0], list(found[1])
        keys = band_keys(signature)
        left = np.searchsorted(self._keys, keys)
        right = np.searchsorted(self._keys, keys, "right")
        buckets = [
            self._owners[left[band] : right[band]].tolist()
            for band in np.flatnonzero(right > left).tolist()
        ]
        return (right - left).tolist(), buckets

    def _merge_recent(self) -> None:
        """Insert the recent keys into the sorted array, after equal ones (a linear copy)."""
        recent_keys, recent_owners = self._recent_pairs()
        keys = np.array(recent_keys, np.uint64)
        owners = np.array(recent_owners, np.int64)
        order = np.argsort(keys, kind="stable")
        keys, owners = keys[order], owners[order]
        at = np.searchsorted(self._keys, keys, "right")
        self._keys, self._owners = (
            np.insert(self._keys, at, keys),
            np.insert(self._owners, at, owners),
        )
        self._recent, self._recent_size, self._prefetched = {}, 0, {}
        self._looked_up = None

    def _rebuild(self, keys: np.ndarray | None = None, owners: np.ndarray | None = None) -> None:
        """One sorted array of the array's keys, the recent ones and `keys`, in that order;
        any key past its first BUCKET_LIMIT sketches is dropped (as `seed` would)."""
        recent_keys, recent_owners = self._recent_pairs()
        all_keys = np.concatenate(
            [
                self._keys,
                np.array(recent_keys, dtype=np.uint64),
                keys if keys is not None else np.empty(0, dtype=np.uint64),
            ]
        )
        all_owners = np.concatenate(
            [
                self._owners,
                np.array(recent_owners, dtype=np.int64),
                owners if owners is not None else np.empty(0, dtype=np.int64),
            ]
        )
        order = np.argsort(all_keys, kind="stable")
        all_keys, all_owners = all_keys[order], all_owners[order]
        if keys is not None and len(all_keys):  # the bucket limit, for the keys given here
            index = np.arange(len(all_keys))
            starts = np.ones(len(all_keys), dtype=bool)
            starts[1:] = all_keys[1:] != all_keys[:-1]
            rank = index - np.maximum.accumulate(np.where(starts, index, 0))
            keep = rank < BUCKET_LIMIT
            all_keys, all_owners = all_keys[keep], all_owners[keep]
        self._keys, self._owners = all_keys, all_owners
        self._recent, self._recent_size, self._prefetched = {}, 0, {}
        self._looked_up = None


def _positions(bucket: int | list[int]) -> list[int]:
    return [bucket] if isinstance(bucket, int) else bucket


def _keys_of(signatures: Sequence[bytes]) -> np.ndarray:
    """The band keys of many signatures, BANDS per signature, in order."""
    words = np.frombuffer(b"".join(signatures), dtype=np.uint64).reshape(-1, BANDS)
    return (words ^ _SALTS).reshape(-1)


def band_keys(signature: bytes) -> np.ndarray:
    """The signature's LSH band keys: each 64-bit word (one band of ROWS = 2 slots), salted
    with its band's number so equal words in two bands stay apart."""
    return np.frombuffer(signature, dtype=np.uint64) ^ _SALTS


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
