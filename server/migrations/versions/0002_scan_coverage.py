"""Per device, how its last scan ended and what it could see (issue 10: never compliant while
blind). NULL for devices whose agents do not report it yet: read as a complete, good scan.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_scan_outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("last_scan_coverage", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("last_scan_coverage")
        batch_op.drop_column("last_scan_outcome")
