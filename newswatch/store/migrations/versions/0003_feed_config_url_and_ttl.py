"""Feed rows remember the config URL they came from, and the feed's RSS ttl

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN and a unique index, no batch mode: rebuilding `feed` on SQLite would
    # drop a table that articles reference, which the foreign keys forbid.
    op.add_column("feed", sa.Column("config_url", sa.Text(), nullable=True))
    op.add_column("feed", sa.Column("ttl_minutes", sa.Integer(), nullable=True))
    # Rows so far were named by the config URL itself.
    op.execute("UPDATE feed SET config_url = url")
    op.create_index("ix_feed_config_url", "feed", ["config_url"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_feed_config_url", table_name="feed")
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.drop_column("ttl_minutes")
        batch_op.drop_column("config_url")
