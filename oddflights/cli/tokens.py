"""`oddflights token create|list|revoke`: the tokens that let a browser write feedback."""

from __future__ import annotations

import click

from oddflights.cli.common import db_option, emit_rows, format_option, open_engine
from oddflights.db.tokens import create_token, list_tokens, revoke_token
from oddflights.tokens import check_name, new_token, token_hash, token_row

_COLUMNS = ("name", "status", "created_at", "last_used_at", "revoked_at")


@click.group("token")
def token() -> None:
    """Tokens for the web page's feedback buttons (`oddflights serve --feedback`).

    Each token has a name; every label or known-flight rule written with it records that
    name and the time. Only a hash of the token is stored: it is shown once, at creation.

    Example: oddflights token create alice-phone
    """


@token.command("create")
@click.argument("name")
@db_option
def create(name: str, db_url: str | None) -> None:
    """Create a token called NAME and print it (once: it cannot be shown again).

    Paste it into the page's "sign in" form. A revoked token's name may be used again.

    Example: oddflights token create alice-phone
    """
    check_name(name)
    secret = new_token()
    create_token(open_engine(db_url), name, token_hash(secret))
    click.echo(secret)
    click.echo(
        f"Token {name!r} created. Keep it now: only its hash is stored. "
        f"`oddflights token revoke {name}` disables it.",
        err=True,
    )


@token.command("list")
@format_option()
@db_option
def list_(fmt: str, db_url: str | None) -> None:
    """List the tokens (names and times, never the secrets).

    Example: oddflights token list --format json
    """
    rows = [token_row(t) for t in list_tokens(open_engine(db_url))]
    emit_rows(rows, fmt, _COLUMNS, title="Web tokens")


@token.command("revoke")
@click.argument("name")
@db_option
def revoke(name: str, db_url: str | None) -> None:
    """Revoke the token called NAME: from the next request on, it writes nothing.

    Its name stays on what it wrote. Example: oddflights token revoke alice-phone
    """
    done = revoke_token(open_engine(db_url), name)
    assert done.revoked_at is not None
    click.echo(f"Token {name!r} revoked ({done.revoked_at.isoformat(timespec='seconds')}).")
