"""The database: the only package that knows SQL."""

from oddflights.db.engine import DatabaseError, open_db, upgrade

__all__ = ["DatabaseError", "open_db", "upgrade"]
