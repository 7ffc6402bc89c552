"""Whether the employee's keyring could be opened (issue 16): the tray tells the agent with its
password status and the agent forwards it, so the device page says "keyring unavailable" with
the next step instead of "not reported". NULL: not said (older agents and trays). With it, the
device's hardware serial number (sent at enrollment).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("password_status", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keyring_available", sa.Boolean(), nullable=True))
    # The device row's summary of it (crud.keyring_on), read by lists without a join; and the
    # hardware serial number the agent sends at enrollment (tells same-named devices apart).
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keyring_available", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("serial_number", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("serial_number")
        batch_op.drop_column("keyring_available")
    with op.batch_alter_table("password_status", schema=None) as batch_op:
        batch_op.drop_column("keyring_available")
