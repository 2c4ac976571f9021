"""Web tokens in the database (table ``tokens``, migration 0008): create, list, revoke, and
the lookup by hash that each feedback request makes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.models import TokenRow
from oddflights.errors import NotFoundError
from oddflights.tokens import Token, TokenError, check_name


class TokenNotFound(NotFoundError):
    """No token with that name."""


def _token(row: Any) -> Token:
    return Token(
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_token(engine: Engine, name: str, token_hash: str) -> Token:
    """Store a token by its name and hash. A revoked token's name may be given again (its
    row takes the new hash); TokenError when an active token has the name."""
    name = check_name(name)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        old = conn.execute(sa.select(TokenRow).where(TokenRow.name == name)).first()
        if old is not None and old.revoked_at is None:
            raise TokenError(
                f"token {name!r} exists: revoke it first (`oddflights token revoke {name}`) "
                "or pick another name"
            )
        values = {
            "token_hash": token_hash,
            "created_at": now,
            "last_used_at": None,
            "revoked_at": None,
        }
        if old is None:
            conn.execute(sa.insert(TokenRow).values(name=name, **values))
        else:
            conn.execute(sa.update(TokenRow).where(TokenRow.name == name).values(**values))
    return Token(name=name, created_at=now)


def list_tokens(engine: Engine) -> list[Token]:
    """Every token, active and revoked, by name."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(TokenRow).order_by(TokenRow.name)).all()
    return [_token(r) for r in rows]


def revoke_token(engine: Engine, name: str) -> Token:
    """Revoke the token called ``name`` (at once: every request looks it up); returns it.
    TokenNotFound when there is none; revoking a revoked token changes nothing."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(TokenRow).where(TokenRow.name == name)).first()
        if row is None:
            raise TokenNotFound(f"no token called {name!r} (see `oddflights token list`)")
        if row.revoked_at is None:
            conn.execute(
                sa.update(TokenRow)
                .where(TokenRow.name == name)
                .values(revoked_at=datetime.now(UTC))
            )
        row = conn.execute(sa.select(TokenRow).where(TokenRow.name == name)).one()
    return _token(row)


def find_token(engine: Engine, token_hash: str) -> Token | None:
    """The active token with that hash, or None (unknown or revoked)."""
    query = sa.select(TokenRow).where(
        TokenRow.token_hash == token_hash, TokenRow.revoked_at.is_(None)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _token(row)


def touch_token(engine: Engine, name: str) -> None:
    """Note that the token was used just now (`token list` shows it)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(TokenRow).where(TokenRow.name == name).values(last_used_at=datetime.now(UTC))
        )
