"""The web tests' small database (a receiver with flights, scores and models)."""

from tests.web.conftest import small_db

__all__ = ["small_db"]
