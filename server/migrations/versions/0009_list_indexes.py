"""Dashboard lists at 100,000 devices (issue 17): indexes for the findings filters the page
offers across states, and trigram indexes for text search on PostgreSQL.

- findings (severity, category, first_seen, id) and (category, severity): the findings list
  narrowed by severity and/or category over all states (state=all), its page and its totals;
  the open/resolved views already had (state, severity, category, ...) from 0006.
- findings (state, severity, category, rule_id, device_id): the per-rule summary of a narrowed
  view (open findings and devices per rule) read from the index alone, not from the table.
- PostgreSQL only: the pg_trgm extension and GIN trigram indexes on devices' host name and
  users, so "contains" searches (ILIKE '%text%') use an index instead of reading every device
  (postgresql.org/docs/15/pgtrgm.html). SQLite keeps a scan of the narrow host-name index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 22:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: list[tuple[str, str, list[str]]] = [
    ("ix_findings_severity_category", "findings", ["severity", "category", "first_seen", "id"]),
    ("ix_findings_category_severity", "findings", ["category", "severity"]),
    (
        "ix_findings_state_kind_rule",
        "findings",
        ["state", "severity", "category", "rule_id", "device_id"],
    ),
    # A rule's newest finding (its title in each language) by one lookup per rule shown.
    ("ix_findings_rule_newest", "findings", ["rule_id", "id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_devices_hostname_trgm",
            "devices",
            ["hostname"],
            postgresql_using="gin",
            postgresql_ops={"hostname": "gin_trgm_ops"},
        )
        # The search's own expression (server/lists.py casts the JSON list of users to text).
        op.execute(
            "CREATE INDEX ix_devices_users_trgm ON devices "
            "USING gin ((CAST(users_seen AS VARCHAR)) gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_devices_users_trgm", table_name="devices")
        op.drop_index("ix_devices_hostname_trgm", table_name="devices")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
