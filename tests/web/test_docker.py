"""The Docker files, checked without Docker: every compose service runs a real `oddflights`
command, and the image installs the package and runs as a non-root user."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest

from oddflights.cli import main

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (pip install -e '.[dev]')")

DOCKER = Path(__file__).resolve().parents[2] / "docker"
SAMPLE_ENV = {
    "POSTGRES_PASSWORD": "secret",
    "RECEIVER_NAME": "home",
    "RECEIVER_HOST": "192.168.1.20",
    "RECEIVER_PORT": "30005",
    "RECEIVER_FORMAT": "beast",
}
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def substitute(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$."""

    def one(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        name, op, arg = m[1], m[2], m[3]
        value = env.get(name)
        if op in (":-", ":?") and value == "":
            value = None
        if value is not None:
            return value
        if op and op.endswith("?"):
            raise KeyError(f"{name} is required: {arg}")
        return arg or ""

    return _VAR.sub(one, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return substitute(node, env)
    if isinstance(node, list):
        return [interpolate(n, env) for n in node]
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    return node


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    return dict(interpolate(raw, SAMPLE_ENV if env is None else env))


def resolve(args: list[str]) -> click.Command:
    """The command `oddflights ARGS` would run, its options parsed (not run): click raises
    UsageError on an unknown command, option or bad value."""
    command: click.Command = main
    ctx: click.Context | None = None
    name, rest = "oddflights", list(args)
    while isinstance(command, click.Group):
        ctx = click.Context(command, info_name=name, parent=ctx)
        if not rest:
            raise click.UsageError(f"{name} needs a command")
        found, sub, rest = command.resolve_command(ctx, rest)
        assert found is not None and sub is not None
        name, command = found, sub
    command.make_context(name, rest, parent=ctx)
    return command


def oddflights_services(spec: dict[str, Any]) -> dict[str, Any]:
    return {n: s for n, s in spec["services"].items() if "command" in s and n != "db"}


def test_every_service_runs_a_real_oddflights_command() -> None:
    services = oddflights_services(compose())
    assert {"scheduler", "web", "ingest"} <= set(services)
    expected = {"scheduler": "schedule", "web": "serve", "ingest": "ingest", "migrate": "upgrade"}
    for name, service in services.items():
        command = service["command"]
        assert isinstance(command, list), f"{name}: use the exec form (a list)"
        assert resolve(command).name == expected[name], name
    assert services["ingest"]["command"][:3] == ["ingest", "--live", "192.168.1.20:30005"]
    assert "0.0.0.0" in services["web"]["command"]


def test_a_wrong_command_would_be_caught() -> None:
    with pytest.raises(click.UsageError):
        resolve(["serve", "--no-such-option"])
    with pytest.raises(click.UsageError):
        resolve(["no-such-command"])


def test_services_share_postgres_and_wait_for_it() -> None:
    spec = compose()
    db = spec["services"]["db"]
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in spec["volumes"]
    for name, service in oddflights_services(spec).items():
        url = service["environment"]["ODDFLIGHTS_DB"]
        assert url == "postgresql://oddflights:secret@db:5432/oddflights", name
        assert service["depends_on"]["db"]["condition"] == "service_healthy", name
    web = spec["services"]["web"]
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert web["ports"] == ["127.0.0.1:8000:8000"]


def test_a_missing_password_is_refused() -> None:
    env = {k: v for k, v in SAMPLE_ENV.items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        compose(env)


def test_dockerfile_installs_the_package_as_a_non_root_user() -> None:
    lines = [
        line.strip()
        for line in (DOCKER / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0].startswith("FROM python:3.11-slim")
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    install = next(i for i, line in enumerate(lines) if "pip install ." in line)
    user = max(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert install < user, "install as root, then drop to the user"
    assert 'ENTRYPOINT ["oddflights"]' in lines
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    assert "!oddflights/" in ignore and "!pyproject.toml" in ignore
