"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.db import make_engine
from server.migrate import is_current, upgrade
from server.models import POSTGRESQL_ONLY_INDEXES, Base


def _elsewhere(change: object, dialect: str) -> bool:
    """A trigram index migration 0009 makes on PostgreSQL alone (not in the portable models)."""
    return (
        dialect == "postgresql"
        and isinstance(change, tuple)
        and change[0] == "remove_index"
        and change[1].name in POSTGRESQL_ONLY_INDEXES
    )


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1)
    try:
        assert is_current(engine)
        upgrade(engine)  # running it again is harmless
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            dialect = conn.dialect.name
        # The PostgreSQL-only search indexes are the migration's alone.
        assert [d for d in diff if not _elsewhere(d, dialect)] == []
    finally:
        engine.dispose()


def test_migration_0003_turns_stored_json_null_into_sql_null(db_url: str) -> None:
    """Rows written before 0003 hold the JSON text 'null'; after it, SQL NULL (both databases)."""
    from alembic import command
    from sqlalchemy import text

    from server.migrate import alembic_config

    engine = make_engine(db_url, pool_size=1)
    try:
        cfg = alembic_config(str(engine.url))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO policies (version, payload, signature, key_id, issued_at,"
                    " expires_at, device_scope, published_by) VALUES (1, :p, :s, 'k',"
                    " '2026-01-01', '2027-01-01', 'null', 'test')"
                ),
                {"p": b"{}", "s": b"sig"},
            )
            assert (
                conn.scalar(text("SELECT count(*) FROM policies WHERE device_scope IS NULL")) == 0
            )
        upgrade(engine)
        with engine.connect() as conn:
            assert (
                conn.scalar(text("SELECT count(*) FROM policies WHERE device_scope IS NULL")) == 1
            )
    finally:
        engine.dispose()
