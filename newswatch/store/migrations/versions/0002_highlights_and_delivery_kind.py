"""Match highlights and instant/digest deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("match", schema=None) as batch_op:
        batch_op.add_column(sa.Column("highlights", sa.JSON(), nullable=True))
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(), nullable=False, server_default="instant")
        )
        batch_op.create_index("ix_delivery_channel_kind", ["channel", "kind", "status"])


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_channel_kind")
        batch_op.drop_column("kind")
    with op.batch_alter_table("match", schema=None) as batch_op:
        batch_op.drop_column("highlights")
