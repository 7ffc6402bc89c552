"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.db import make_engine
from server.migrate import is_current, upgrade
from server.models import Base


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1)
    try:
        assert is_current(engine)
        upgrade(engine)  # running it again is harmless
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
