"""Story grouping: article sketches, their LSH bands, and one alert per (story, rule, channel)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 13:50:00
"""

import hashlib
from array import array
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from newswatch.stories import DEFAULT_WINDOW, opening_text, sketch


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "story_sketch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("story_key", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["article.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_story_sketch_article_id", "story_sketch", ["article_id"])
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
    op.create_table(
        "story_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_key", sa.Text(), nullable=False),
        sa.Column("rule_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("match_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["match_id"], ["match.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("story_key", "rule_id", "channel", name="uq_story_alert"),
    )
    op.create_index("ix_story_alert_match_id", "story_alert", ["match_id"])
    _sketch_recent_articles()
    # Deliveries made before stories existed count as their story's alert, so a copy
    # stored after the upgrade does not alert again.
    op.execute(
        "INSERT INTO story_alert (story_key, rule_id, channel, match_id, created_at) "
        "SELECT a.story_key, m.rule_id, d.channel, MIN(m.id), MIN(d.created_at) "
        "FROM delivery d JOIN match m ON m.id = d.match_id JOIN article a ON a.id = m.article_id "
        "GROUP BY a.story_key, m.rule_id, d.channel"
    )


def _sketch_recent_articles() -> None:
    """Sketch the articles a new copy could still join (the window before the newest), so
    a copy of a story alerted before the upgrade finds it."""
    bind = op.get_bind()
    when = sa.DateTime(timezone=True)
    article = sa.table(
        "article",
        *(sa.column(name, sa.Text()) for name in ("story_key", "fingerprint", "title")),
        *(sa.column(name, sa.Text()) for name in ("summary", "body")),
        sa.column("id", sa.Integer()),
        sa.column("published_at", when),
    )
    newest = bind.execute(sa.select(sa.func.max(article.c.published_at))).scalar()
    if newest is None:
        return
    sketches = sa.table(
        "story_sketch",
        sa.column("id", sa.Integer()),
        sa.column("article_id", sa.Integer()),
        sa.column("story_key", sa.Text()),
        sa.column("signature", sa.LargeBinary()),
        sa.column("published_at", sa.DateTime(timezone=True)),
    )
    bands = sa.table(
        "story_band",
        sa.column("band", sa.Text()),
        sa.column("sketch_id", sa.Integer()),
        sa.column("published_at", sa.DateTime(timezone=True)),
    )
    c = article.c
    rows = bind.execute(
        sa.select(c.id, c.story_key, c.fingerprint, c.title, c.summary, c.body, c.published_at)
        .where(c.published_at >= newest - DEFAULT_WINDOW)
        .order_by(c.published_at, c.id)
    ).all()
    for article_id, key, fingerprint, title, summary, body, published_at in rows:
        made = sketch(title, opening_text(summary, body))
        sketch_id = bind.execute(
            sketches.insert()
            .values(
                article_id=article_id,
                story_key=key or fingerprint,
                signature=made.signature,
                published_at=published_at,
            )
            .returning(sketches.c.id)
        ).scalar_one()
        bind.execute(
            bands.insert(),
            [
                {"band": b, "sketch_id": sketch_id, "published_at": published_at}
                for b in hex_bands(made.signature)
            ],
        )


def hex_bands(signature: bytes) -> list[str]:
    """The 64 band keys of a signature as this revision stores them: 2 slots a band, each
    band's number then its blake2b hex (a copy of what stories.py did then)."""
    values = array("I", signature)
    return [
        f"{i:02d}" + hashlib.blake2b(values[i * 2 : i * 2 + 2].tobytes(), digest_size=8).hexdigest()
        for i in range(len(values) // 2)
    ]


def downgrade() -> None:
    op.drop_index("ix_story_alert_match_id", table_name="story_alert")
    op.drop_table("story_alert")
    op.drop_index("ix_story_band_sketch_id", table_name="story_band")
    op.drop_index("ix_story_band_band_published", table_name="story_band")
    op.drop_table("story_band")
    op.drop_index("ix_story_sketch_article_id", table_name="story_sketch")
    op.drop_table("story_sketch")
