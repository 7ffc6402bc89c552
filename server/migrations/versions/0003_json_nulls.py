"""Nullable JSON columns hold SQL NULL for "none", not the JSON text 'null' (issue 11): the
dashboard's "current policy" (device_scope IS NULL) found nothing on either database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("policies", "device_scope"), ("devices", "last_scan_coverage"))


def upgrade() -> None:
    # SQLite keeps JSON as text; PostgreSQL's json type has no equality, so compare its text.
    cast = "CAST({0} AS TEXT)" if op.get_bind().dialect.name == "postgresql" else "{0}"
    for table, column in COLUMNS:
        op.execute(f"UPDATE {table} SET {column} = NULL WHERE {cast.format(column)} = 'null'")


def downgrade() -> None:
    # Older code reads SQL NULL and JSON null alike; nothing to undo.
    pass
