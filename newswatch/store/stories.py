"""Story sketches and their LSH bands in the database: the `stories.BandStore` the cycle uses.

A lookup is one indexed query on (band, published_at) for the new article's bands; adding
a sketch is two batched INSERTs. Neither reads more than the candidates it finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import Session

from newswatch.models import StoryBand, StorySketch
from newswatch.stories import Candidate, Sketch


@dataclass
class DatabaseBands:
    """The stored sketches of recent articles, read and written through one session.

    `article_id` names the article the next `add` stores a sketch for.
    """

    session: Session
    article_id: int = 0

    def candidates(
        self, bands: Sequence[str], *, since: datetime, until: datetime
    ) -> list[Candidate]:
        band = StoryBand.metadata.tables["story_band"].c
        sketch = StorySketch.metadata.tables["story_sketch"].c
        query = (
            sa_select(sketch.story_key, sketch.signature)
            .distinct()
            .join_from(
                StoryBand.metadata.tables["story_band"],
                StorySketch.metadata.tables["story_sketch"],
                band.sketch_id == sketch.id,
            )
            .where(band.band.in_(list(bands)))
            .where(band.published_at >= since, band.published_at <= until)
        )
        return [
            Candidate(story_key=key, signature=bytes(signature))
            for key, signature in self.session.connection().execute(query)
        ]

    def add(self, sketch: Sketch, *, story_key: str, published_at: datetime) -> None:
        sketches = StorySketch.metadata.tables["story_sketch"]
        sketch_id = (
            self.session.connection()
            .execute(
                sketches.insert()
                .values(
                    article_id=self.article_id,
                    story_key=story_key,
                    signature=sketch.signature,
                    published_at=published_at,
                )
                .returning(sketches.c.id)
            )
            .scalar_one()
        )
        self.session.connection().execute(
            StoryBand.metadata.tables["story_band"].insert(),
            [
                {"band": band, "sketch_id": sketch_id, "published_at": published_at}
                for band in sketch.bands
            ],
        )
