"""Alembic environment: runs on the connection ``sqlstore.migrate`` hands over (never a URL)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table="history_alembic_version")
with context.begin_transaction():
    context.run_migrations()
