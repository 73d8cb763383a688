"""Story sketches in the database, and a cycle's window of them in memory.

Only the sketches are stored (story_sketch); their LSH bands are a pure function of the
signature, cut in memory (stories.MemoryBands). A cycle keeps one `StoryWindow`: the stored
sketches of its articles' time window, read once by published_at, then each batch's own
added as it is grouped. Before each batch is grouped, the sketches other processes stored
meanwhile are read by `id` above the last one read, so two runs storing at once (shards)
still group each other's copies; an id below it that was not there yet (on PostgreSQL, a
transaction still in flight) is asked for again until it shows or HOLE_TTL_S passes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session

from newswatch.models import StorySketch
from newswatch.stories import MemoryBands, Sketch, assign

# The first read of a window also reads the last LOOKBACK sketches stored, whatever their
# time, so that an id missing among them (a transaction in flight) is known as a hole.
LOOKBACK: Final = 1000
HOLE_TTL_S: Final = 600.0  # a transaction this old that never committed rolled back
_MAX_HOLES: Final = 1000


@dataclass(frozen=True, slots=True)
class Mark:
    """A StoryWindow as it was before a transaction, to go back to if it rolls back."""

    size: int
    last_id: int | None
    loaded: tuple[tuple[datetime, datetime], ...]
    holes: tuple[tuple[int, float], ...]


class StoryWindow:
    """The stored sketches a cycle has read, and where its reading stands.

    One per cycle (or flow run), shared by its batches: `lock` is held by the one store
    transaction using it at a time. (A plain class: Prefect walks a dataclass passed to
    a task field by field.)
    """

    def __init__(self) -> None:
        self.bands = MemoryBands()
        self.lock = threading.Lock()
        self.last_id: int | None = None  # every id up to this one was read (or is a hole)
        self.loaded: list[tuple[datetime, datetime]] = []  # published_at spans read
        self.holes: dict[int, float] = {}  # id -> when it was found missing
        # each held sketch's article, by position, and all of them: a sketch is its
        # article's (the cycle's own are read back by id once, and known by their article)
        self.articles: list[int] = []
        self.seen: set[int] = set()
        # the transaction that last read by id: the later feeds in it need not read again
        # (on SQLite they could not see another run's rows before it ends anyway)
        self.caught_up_in: object | None = None

    def mark(self) -> Mark:
        size = len(self.articles)
        return Mark(size, self.last_id, tuple(self.loaded), tuple(self.holes.items()))

    def rollback(self, mark: Mark) -> None:
        """Forget what was read and added since `mark` (its transaction rolled back)."""
        self.seen.difference_update(self.articles[mark.size :])
        del self.articles[mark.size :]
        self.bands.truncate(mark.size)
        self.last_id, self.loaded, self.holes = mark.last_id, list(mark.loaded), dict(mark.holes)
        self.caught_up_in = None

    def hold(self, rows: Sequence[tuple[int, str, bytes, datetime]]) -> None:
        """Hold stored sketches (article, story, signature, published) not held yet."""
        new = []
        for article_id, story_key, signature, when in rows:
            if article_id not in self.seen:
                self.seen.add(article_id)
                self.articles.append(article_id)
                new.append((bytes(signature), story_key, when))
        self.bands.seed_many(new)


def assign_stories(
    session: Session,
    *,
    articles: Sequence[tuple[int, str, Sketch, datetime]],
    threshold: float,
    window: timedelta,
    stories: StoryWindow | None = None,
) -> dict[int, str]:
    """Story key per stored article (id, seed, sketch, published): the story of the most
    similar article within the window, stored or earlier in this batch, else a new one.
    Writes the keys to the articles and stores the sketches later copies will look for.

    `stories`: the cycle's window (read from the database as far as it is not yet);
    without it, the window of these articles alone is read."""
    if not articles:
        return {}
    stories = stories if stories is not None else StoryWindow()
    catch_up(
        session, stories=stories, wanted=[(when - window, when + window) for *_, when in articles]
    )
    keys: dict[int, str] = {}
    owners: list[int] = []  # the article of each sketch added, in order
    bands = stories.bands
    bands.prefetch([sketch.signature for _, _, sketch, _ in articles])
    for article_id, seed, sketch, published_at in articles:
        before = len(bands.added)
        keys[article_id] = assign(
            bands, sketch, published_at=published_at, seed=seed, threshold=threshold, window=window
        )
        if len(bands.added) > before:
            owners.append(article_id)
    _keep(session, stories, owners)
    _executemany(
        session,
        "UPDATE article SET story_key = {0} WHERE id = {0}",
        [(key, article_id) for article_id, key in keys.items()],
    )
    return keys


def catch_up(
    session: Session, *, stories: StoryWindow, wanted: Sequence[tuple[datetime, datetime]]
) -> None:
    """Read into `stories` the sketches stored since it last read (by anyone; once per
    transaction), and those published within `wanted` that it has not read yet."""
    c = StorySketch.metadata.tables["story_sketch"].c
    connection = session.connection()
    if stories.last_id is None:
        top = connection.execute(sa_select(func.max(c.id))).scalar() or 0
        stories.last_id = max(0, top - LOOKBACK)
    transaction = session.get_transaction()
    if transaction is None or transaction is not stories.caught_up_in:
        _read_new(session, stories, stories.last_id)
        stories.caught_up_in = transaction
    for since, until in _missing(stories.loaded, wanted):
        rows = connection.execute(
            sa_select(c.id, c.article_id, c.story_key, c.signature, c.published_at)
            .where(c.published_at >= since, c.published_at <= until)
            .where(c.id <= stories.last_id)  # the ones above are read by id
        ).all()  # no ORDER BY id: SQLite would then walk the whole table by id
        ordered = sorted(rows, key=lambda row: row[0])
        stories.hold([(article_id, key, sig, when) for _, article_id, key, sig, when in ordered])
        stories.loaded = _merged([*stories.loaded, (since, until)])


def _read_new(session: Session, stories: StoryWindow, last_id: int) -> None:
    """The sketches stored with an id above `last_id`, and the holes below it that showed."""
    c = StorySketch.metadata.tables["story_sketch"].c
    now = time.monotonic()
    stories.holes = {i: t for i, t in stories.holes.items() if now - t < HOLE_TTL_S}
    since_last = c.id > last_id
    query = sa_select(c.id, c.article_id, c.story_key, c.signature, c.published_at).where(
        or_(since_last, c.id.in_(list(stories.holes))) if stories.holes else since_last
    )
    rows = session.connection().execute(query.order_by(c.id)).all()
    stories.hold([(article_id, key, sig, when) for _, article_id, key, sig, when in rows])
    found = {row[0] for row in rows}
    top = max(found, default=last_id)
    for missing in range(last_id + 1, top + 1):
        if missing not in found:
            stories.holes.setdefault(missing, now)
    for sketch_id in found:
        stories.holes.pop(sketch_id, None)
    if len(stories.holes) > _MAX_HOLES:
        stories.holes = dict(sorted(stories.holes.items())[-_MAX_HOLES:])
    stories.last_id = top


def _keep(session: Session, stories: StoryWindow, owners: list[int]) -> None:
    """Store the sketches the grouping added, one executemany at the driver (a Core INSERT
    spent more in SQLAlchemy's per-row work than SQLite in writing)."""
    added = stories.bands.take_added()
    if not added:
        return
    connection = session.connection()
    table = StorySketch.metadata.tables["story_sketch"]
    process = table.c.published_at.type.bind_processor(connection.dialect)
    rows = [
        (owner, key, sketch.signature, process(when) if process else when)
        for owner, (sketch, key, when) in zip(owners, added, strict=True)
    ]
    _executemany(
        session,
        "INSERT INTO story_sketch (article_id, story_key, signature, published_at) "
        "VALUES ({0}, {0}, {0}, {0})",
        rows,
    )
    stories.seen.update(owners)
    stories.articles.extend(owners)


def _executemany(session: Session, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """`statement` with `{0}` for each parameter, run for every row at the driver."""
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(statement.format(mark), rows)


def _merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for since, until in sorted(spans):
        if out and since <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], until))
        else:
            out.append((since, until))
    return out


def _missing(
    loaded: list[tuple[datetime, datetime]], wanted: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of `wanted` that no span of `loaded` covers."""
    gaps: list[tuple[datetime, datetime]] = []
    for since, until in _merged(list(wanted)):
        start = since
        for low, high in loaded:
            if high < start or low > until:
                continue
            if low > start:
                gaps.append((start, low))
            start = max(start, high)
        if start < until:
            gaps.append((start, until))
    return gaps
