"""Story bands are cut in memory: story_band goes, story_sketch is read by published_at

A band is a pure function of a stored signature, so the cycle reads its window of
sketches once (by published_at, hence the index) and cuts their bands in memory
(newswatch/stories.MemoryBands); writing 64 band rows per article cost most of the store.
The downgrade cuts the band rows again from the stored sketches, as 0008 wrote them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:40:00
"""

import hashlib
from array import array
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_story_band_sketch_id", table_name="story_band")
    op.drop_index("ix_story_band_band_published", table_name="story_band")
    op.drop_table("story_band")
    op.create_index("ix_story_sketch_published_at", "story_sketch", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_story_sketch_published_at", table_name="story_sketch")
    op.create_table(
        "story_band",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("band", sa.Text(), nullable=False),
        sa.Column("sketch_id", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sketch_id"], ["story_sketch.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_story_band_band_published", "story_band", ["band", "published_at"])
    op.create_index("ix_story_band_sketch_id", "story_band", ["sketch_id"])
    bind = op.get_bind()
    sketches = sa.table(
        "story_sketch",
        sa.column("id", sa.Integer()),
        sa.column("signature", sa.LargeBinary()),
        sa.column("published_at", sa.DateTime(timezone=True)),
    )
    bands = sa.table(
        "story_band",
        sa.column("band", sa.Text()),
        sa.column("sketch_id", sa.Integer()),
        sa.column("published_at", sa.DateTime(timezone=True)),
    )
    rows = bind.execute(
        sa.select(sketches.c.id, sketches.c.signature, sketches.c.published_at).order_by(
            sketches.c.id
        )
    ).all()
    for sketch_id, signature, published_at in rows:
        bind.execute(
            bands.insert(),
            [
                {"band": b, "sketch_id": sketch_id, "published_at": published_at}
                for b in _hex_bands(bytes(signature))
            ],
        )


def _hex_bands(signature: bytes) -> list[str]:
    """The band keys 0008 stored: 2 slots a band, the band's number then its blake2b hex."""
    values = array("I", signature)
    return [
        f"{i:02d}" + hashlib.blake2b(values[i * 2 : i * 2 + 2].tobytes(), digest_size=8).hexdigest()
        for i in range(len(values) // 2)
    ]
