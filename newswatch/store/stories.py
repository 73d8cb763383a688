"""Story sketches and their LSH bands in the database.

A feed's new articles are grouped together: one indexed query on (band, published_at) per
chunk of articles reads the stored sketches they collide with, the grouping runs in memory
(stories.py), and the sketches it keeps go back in batched INSERTs. The reads follow the
candidates found, never the number of articles stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import Session

from newswatch.models import Article, StoryBand, StorySketch
from newswatch.stories import MemoryBands, Sketch, assign

# Articles whose bands one query looks up: 64 bands each stays under SQLite's 32,766
# bound parameters.
CHUNK = 400


def assign_stories(
    session: Session,
    *,
    articles: Sequence[tuple[int, str, Sketch, datetime]],
    threshold: float,
    window: timedelta,
) -> dict[int, str]:
    """Story key per stored article (id, seed, sketch, published): the story of the most
    similar article within the window, stored or earlier in this batch, else a new one.
    Writes the keys to the articles and keeps the sketches for later copies."""
    if not articles:
        return {}
    bands = MemoryBands()
    for start in range(0, len(articles), CHUNK):
        chunk = articles[start : start + CHUNK]
        _seed(
            session,
            bands,
            wanted=[band for _, _, sketch, _ in chunk for band in sketch.bands],
            since=min(when for *_, when in chunk) - window,
            until=max(when for *_, when in chunk) + window,
        )
    keys: dict[int, str] = {}
    owner: dict[int, int] = {}  # position in bands.added -> article id
    for article_id, seed, sketch, published_at in articles:
        before = len(bands.added)
        keys[article_id] = assign(
            bands, sketch, published_at=published_at, seed=seed, threshold=threshold, window=window
        )
        if len(bands.added) > before:
            owner[before] = article_id
    _keep(session, bands, owner)
    table = Article.metadata.tables["article"]
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("article_id"))
        .values(story_key=bindparam("key")),
        [{"article_id": a, "key": k} for a, k in keys.items()],
    )
    return keys


def _seed(
    session: Session, bands: MemoryBands, *, wanted: list[str], since: datetime, until: datetime
) -> None:
    band = StoryBand.metadata.tables["story_band"]
    sketch = StorySketch.metadata.tables["story_sketch"]
    query = (
        sa_select(band.c.band, sketch.c.story_key, sketch.c.signature, sketch.c.published_at)
        .join_from(band, sketch, band.c.sketch_id == sketch.c.id)
        .where(band.c.band.in_(wanted))
        .where(band.c.published_at >= since, band.c.published_at <= until)
    )
    for found, key, signature, published_at in session.connection().execute(query):
        bands.seed([found], key, bytes(signature), published_at)


def _keep(session: Session, bands: MemoryBands, owner: dict[int, int]) -> None:
    if not bands.added:
        return
    sketches = StorySketch.metadata.tables["story_sketch"]
    rows = [
        {
            "article_id": owner[i],
            "story_key": key,
            "signature": sketch.signature,
            "published_at": published_at,
        }
        for i, (sketch, key, published_at, _) in enumerate(bands.added)
    ]
    ids = session.connection().execute(
        sketches.insert().returning(sketches.c.id, sort_by_parameter_order=True), rows
    )
    # 64 bands a sketch: the rows go to the driver as they are, each sketch's time converted
    # once (through the column type's own processor) rather than once per band.
    connection = session.connection()
    band_table = StoryBand.metadata.tables["story_band"]
    process = band_table.c.published_at.type.bind_processor(connection.dialect)
    band_rows = [
        (b, sketch_id, when)
        for (sketch_id,), (_, _, published_at, filed) in zip(ids, bands.added, strict=True)
        for when in [process(published_at) if process else published_at]
        for b in filed
    ]
    if band_rows:
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        columns = "story_band (band, sketch_id, published_at)"
        values = f"VALUES ({mark}, {mark}, {mark})"
        connection.exec_driver_sql(f"INSERT INTO {columns} {values}", band_rows)
