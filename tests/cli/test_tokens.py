"""`oddflights token create|list|revoke` on real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.models import TokenRow
from oddflights.db.tokens import find_token
from oddflights.tokens import PREFIX, token_hash


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _listed(db_url: str) -> dict[str, dict[str, object]]:
    code, out, err = run("token", "list", "--format", "json", "--db", db_url)
    assert code == 0, err
    return {t["name"]: t for t in json.loads(out)}


def test_create_prints_the_token_once_and_stores_its_hash(db_url: str) -> None:
    code, out, err = run("token", "create", "alice-phone", "--db", db_url)
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith(PREFIX) and len(secret) > 40 and "\n" not in secret
    assert "only its hash is stored" in err
    engine = open_db(db_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(TokenRow.name, TokenRow.token_hash)).all()
    assert [tuple(r) for r in stored] == [("alice-phone", token_hash(secret))]
    found = find_token(engine, token_hash(secret))
    assert found is not None and found.name == "alice-phone"
    engine.dispose()
    # Listed by name and state, never with the secret.
    code, out, _ = run("token", "list", "--db", db_url)
    assert code == 0 and "alice-phone" in out and "active" in out and secret not in out
    assert _listed(db_url)["alice-phone"]["status"] == "active"
    # A second token of that name is refused while the first is active.
    code, _, err = run("token", "create", "alice-phone", "--db", db_url)
    assert code == 2 and "revoke it first" in err and len(err.strip().splitlines()) == 1


def test_revoke_disables_at_once_and_frees_the_name(db_url: str) -> None:
    code, out, _ = run("token", "create", "bob", "--db", db_url)
    assert code == 0
    old = out.strip()
    code, out, err = run("token", "revoke", "bob", "--db", db_url)
    assert code == 0, err
    assert "revoked" in out
    listed = _listed(db_url)["bob"]
    assert listed["status"] == "revoked" and listed["revoked_at"]
    engine = open_db(db_url)
    assert find_token(engine, token_hash(old)) is None
    # The name can be given to a new token; the old one stays dead.
    code, out, _ = run("token", "create", "bob", "--db", db_url)
    assert code == 0
    new = out.strip()
    assert new != old
    assert find_token(engine, token_hash(new)) is not None
    assert find_token(engine, token_hash(old)) is None
    engine.dispose()
    assert _listed(db_url)["bob"]["status"] == "active"


def test_bad_names_and_unknown_tokens_are_one_line_errors(db_url: str) -> None:
    for bad, words in (("", "must be"), ("a b", "must be"), ("cli", "reserved"), ("x" * 65, "")):
        code, _, err = run("token", "create", bad, "--db", db_url)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run("token", "revoke", "nobody", "--db", db_url)
    assert code == 2 and "no token called 'nobody'" in err
    assert _listed(db_url) == {}
