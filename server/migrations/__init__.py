"""Alembic migrations for the server's database (run through `server.migrate`)."""
