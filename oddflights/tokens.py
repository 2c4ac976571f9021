"""Web tokens: the per-install secrets that let a browser write feedback (``serve
--feedback``): labels and known-flight rules, each recorded with the token's name.

A token is 32 random bytes (URL-safe base64 behind an ``of_`` prefix, so that it can be
recognised in a leaked file). Only its SHA-256 is stored: a token is as random as a key, not
a password a person chose, so a slow hash (scrypt) would add nothing but a delay per request.
Plain data in and out; oddflights.db.tokens stores them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oddflights.errors import OddflightsError

PREFIX = "of_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Names the other writers already put in created_by: a token may not pass for them.
RESERVED = ("cli", "nightly", "web")


class TokenError(OddflightsError, ValueError):
    """A token name that cannot be used (the message names it)."""


@dataclass(frozen=True)
class Token:
    """A stored token (never the secret itself)."""

    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the token still opens the feedback buttons."""
        return self.revoked_at is None


def check_name(name: str) -> str:
    """``name`` as stored: 1-64 letters, digits and ``._@-``, starting with a letter or digit,
    and not a reserved name. TokenError otherwise."""
    if not _NAME.fullmatch(name):
        raise TokenError(
            f"token name {name!r} must be 1-64 letters, digits, '.', '_', '@' or '-' "
            "(e.g. alice-phone)"
        )
    if name.lower() in RESERVED:
        raise TokenError(f"token name {name!r} is reserved (used for {', '.join(RESERVED)})")
    return name


def new_token() -> str:
    """A fresh random token (to show once)."""
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The stored form of ``token``: its SHA-256, hex."""
    return hashlib.sha256(token.strip().encode()).hexdigest()


def csrf_token(secret: bytes, session: str) -> str:
    """The CSRF field of a session (its token's hash): an HMAC under the server's
    ``secret``, so a page from elsewhere cannot know it."""
    return hmac.new(secret, session.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, session: str, given: str | None) -> bool:
    """Whether ``given`` is the CSRF field of ``session`` (constant-time)."""
    return bool(given) and hmac.compare_digest(csrf_token(secret, session), str(given))


def token_row(token: Token) -> dict[str, Any]:
    """A token as `oddflights token list --format json` prints it."""

    def iso(value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.isoformat(timespec="seconds").replace("+00:00", "Z")

    return {
        "name": token.name,
        "status": "active" if token.active else "revoked",
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }
