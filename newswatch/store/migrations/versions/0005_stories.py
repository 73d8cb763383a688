"""Story grouping: article sketches, their LSH bands, and one alert per (story, rule, channel)

Revision ID: 0005_stories
Revises: 0004
Create Date: 2026-12-03 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0005_stories"
down_revision: str | None = "0004"
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
    # Deliveries made before stories existed count as their story's alert, so a copy
    # stored after the upgrade does not alert again.
    op.execute(
        "INSERT INTO story_alert (story_key, rule_id, channel, match_id, created_at) "
        "SELECT a.story_key, m.rule_id, d.channel, MIN(m.id), MIN(d.created_at) "
        "FROM delivery d JOIN match m ON m.id = d.match_id JOIN article a ON a.id = m.article_id "
        "GROUP BY a.story_key, m.rule_id, d.channel"
    )


def downgrade() -> None:
    op.drop_index("ix_story_alert_match_id", table_name="story_alert")
    op.drop_table("story_alert")
    op.drop_index("ix_story_band_sketch_id", table_name="story_band")
    op.drop_index("ix_story_band_band_published", table_name="story_band")
    op.drop_table("story_band")
    op.drop_index("ix_story_sketch_article_id", table_name="story_sketch")
    op.drop_table("story_sketch")
