"""Devices remember their machine id (issue 11): a revoked machine enrolled again by IT gets its
earlier record back, so the dashboard shows one machine, not two.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("machine_id", sa.String(length=128), nullable=True))
        batch_op.create_index("ix_devices_machine_id", ["machine_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_machine_id")
        batch_op.drop_column("machine_id")
