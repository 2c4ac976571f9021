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


# compose.ultrafeeder.yaml: beside an sdr-enthusiasts ultrafeeder, configured by variables.
ULTRAFEEDER_ENV = {"LAT": "52.37", "LONG": "4.89", "TZ": "Europe/Amsterdam"}


def ultrafeeder(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load((DOCKER / "compose.ultrafeeder.yaml").read_text(encoding="utf-8"))
    return dict(interpolate(raw, ULTRAFEEDER_ENV if env is None else env))


def test_ultrafeeder_services_run_real_commands_with_health_checks() -> None:
    spec = ultrafeeder()
    services = spec["services"]
    expected = {"init": "init", "ingest": "ingest", "scheduler": "schedule", "web": "serve"}
    assert set(services) == set(expected)
    checks = {"ingest": "live", "scheduler": "nightly"}
    for name, service in services.items():
        assert resolve(service["command"]).name == expected[name], name
        assert service.get("user", "10001") not in ("root", "0", "0:0"), name
        assert "oddflights-data:/data" in service["volumes"], name
        assert service["networks"] == ["adsb"], name
        env = service["environment"]
        assert env["ODDFLIGHTS_DB"] == "sqlite:////data/oddflights.db", name
        if name == "init":
            assert service["healthcheck"] == {"disable": True}
            assert service["restart"] == "no"
            continue
        assert service["depends_on"] == {"init": {"condition": "service_completed_successfully"}}
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", name
        if name == "web":
            assert "/healthz" in " ".join(test)
        else:
            assert test[1] == "oddflights" and resolve(test[2:]).name == checks[name], name
    assert spec["volumes"] == {"oddflights-data": None}
    assert spec["networks"]["adsb"] == {"external": True, "name": "adsb_default"}


def test_ultrafeeder_ingest_reads_beast_from_the_service_by_name() -> None:
    from oddflights.docker_env import from_env

    env = ultrafeeder()["services"]["ingest"]["environment"]
    assert env["BEASTHOST"] == "ultrafeeder"
    args = from_env(env).ingest_args()
    assert args[:3] == ["ingest", "--live", "ultrafeeder:30005"]
    assert resolve(args).name == "ingest"
    # SBS instead: BEASTHOST set empty, SBSHOST given.
    sbs = ultrafeeder({**ULTRAFEEDER_ENV, "BEASTHOST": "", "SBSHOST": "readsb"})
    args = from_env(sbs["services"]["ingest"]["environment"]).ingest_args()
    assert args[2:3] == ["readsb:30003"] and args[-2:] == ["sbs", "--quiet"]


def test_ultrafeeder_needs_the_receivers_place() -> None:
    with pytest.raises(KeyError, match="LAT"):
        ultrafeeder({"LONG": "4.89"})


def test_compose_yaml_services_have_health_checks() -> None:
    services = compose()["services"]
    assert services["migrate"]["healthcheck"] == {"disable": True}
    for name, check in (("ingest", "live"), ("scheduler", "nightly")):
        assert resolve(services[name]["healthcheck"]["test"][2:]).name == check, name


def test_dockerfile_keeps_the_database_in_the_data_volume() -> None:
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert "VOLUME /data" in text
    assert "ODDFLIGHTS_DB=sqlite:////data/oddflights.db" in text
    health = re.search(r"HEALTHCHECK [^\n]*\\\n\s*CMD \[(.*)\]", text)
    assert health is not None
    words = [w.strip().strip('"') for w in health[1].split(",")]
    assert words[0] == "oddflights" and resolve(words[1:]).name == "live"
    cmd = re.search(r"^CMD \[(.*)\]$", text, re.M)
    assert cmd is not None
    assert resolve([w.strip().strip('"') for w in cmd[1].split(",")]).name == "ingest"
    assert "docker buildx build --platform linux/amd64,linux/arm64" in text
