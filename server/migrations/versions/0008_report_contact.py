"""Reports keep how the reporter may be contacted as their own fields (issue 16): a method
(email, phone, wechat, none) and its address or number. Until now the agent wrote
"[contact: …]" into the description; those older reports keep their text as it is (nothing
in a person's description is rewritten) and have no method.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_method", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("contact_address", sa.String(length=254), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("contact_address")
        batch_op.drop_column("contact_method")
