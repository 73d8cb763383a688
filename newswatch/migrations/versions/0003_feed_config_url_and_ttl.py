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
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.add_column(sa.Column("config_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("ttl_minutes", sa.Integer(), nullable=True))
    # Rows so far were named by the config URL itself.
    op.execute("UPDATE feed SET config_url = url")
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_feed_config_url", ["config_url"])


def downgrade() -> None:
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.drop_constraint("uq_feed_config_url", type_="unique")
        batch_op.drop_column("ttl_minutes")
        batch_op.drop_column("config_url")
