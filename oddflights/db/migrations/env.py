"""Alembic environment: migrations run on the connection oddflights hands over."""

from __future__ import annotations

from alembic import context

from oddflights.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `oddflights db upgrade` (oddflights.db.open_db)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
