"""Dashboard accounts (issue 16): a role per account, a session generation that ends the
account's sessions in every server process when it grows (logout, password change, role change,
disable), and the viewer's time zone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("admins", schema=None) as batch_op:
        # Existing accounts keep the full access they had.
        batch_op.add_column(
            sa.Column("role", sa.String(length=32), server_default="administrator", nullable=False)
        )
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("admins", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
        batch_op.drop_column("session_generation")
        batch_op.drop_column("role")
