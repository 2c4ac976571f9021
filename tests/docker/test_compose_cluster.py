"""docker/compose.cluster.yaml, checked without Docker: its services, the oddflights commands
and Dask's own command lines parse, and the workers, the Dask scheduler and the settings
agree (one address, one database, the TRAIN resource the nightly asks for)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from oddflights import config
from oddflights.scheduler.cluster import TRAIN
from tests.web.test_docker import DOCKER, interpolate, resolve

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (pip install -e '.[dev]')")

ENV = {"POSTGRES_PASSWORD": "secret"}


def spec() -> dict[str, Any]:
    raw = yaml.safe_load((DOCKER / "compose.cluster.yaml").read_text(encoding="utf-8"))
    return dict(interpolate(raw, ENV))


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_services_and_their_oddflights_commands() -> None:
    services = spec()["services"]
    assert set(services) == {"db", "migrate", "dask-scheduler", "worker", "scheduler", "web"}
    assert services["db"]["image"].startswith("postgres:16")
    assert resolve(services["scheduler"]["command"]).name == "schedule"
    assert services["scheduler"]["command"] == ["schedule", "--all"]
    assert resolve(services["migrate"]["command"]).name == "upgrade"
    assert resolve(services["web"]["command"]).name == "serve"


def test_workers_scheduler_and_settings_agree() -> None:
    services = spec()["services"]
    sched, worker, nightly = services["dask-scheduler"], services["worker"], services["scheduler"]
    # One image for all: the tasks' code is the submitter's; built with the cluster extra.
    images = {s["image"] for s in (sched, worker, nightly, services["web"])}
    assert images == {"oddflights-cluster:latest"}
    assert worker["build"]["args"]["EXTRAS"] == "cluster"
    extras = tomllib.loads((DOCKER.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert "cluster" in extras["project"]["optional-dependencies"]
    # The address the nightly submits to is a valid setting, names the Dask scheduler's
    # service and port, and is the one the workers join.
    address = config.setting("dask_scheduler").value(
        nightly["environment"]["ODDFLIGHTS_DASK_SCHEDULER"]
    )
    parts = urlsplit(address)
    assert parts.hostname == "dask-scheduler" and parts.port == 8786
    assert sched["entrypoint"] == ["dask", "scheduler"]
    assert _option(sched["command"], "--port") == str(parts.port)
    assert worker["entrypoint"] == ["dask", "worker"]
    args = worker["command"]
    assert args[0] == address
    # One receiver at a time per worker, and the resource the training tasks ask for.
    assert _option(args, "--nthreads") == "1"
    assert _option(args, "--resources") == f"{TRAIN}=1"
    # Workers, the nightly and the web share one database.
    urls = {s["environment"]["ODDFLIGHTS_DB"] for s in (worker, nightly, services["web"])}
    assert urls == {"postgresql://oddflights:secret@db:5432/oddflights"}
    for name in ("worker", "scheduler"):
        assert services[name]["depends_on"]["dask-scheduler"]["condition"] == "service_healthy"


def test_dask_parses_the_worker_and_scheduler_command_lines() -> None:
    pytest.importorskip("distributed")
    from distributed.cli.dask_scheduler import main as scheduler_main
    from distributed.cli.dask_worker import main as worker_main

    services = spec()["services"]
    # click's own parsing: an unknown option or a bad value raises UsageError.
    worker_main.make_context("dask worker", list(services["worker"]["command"]))
    scheduler_main.make_context("dask scheduler", list(services["dask-scheduler"]["command"]))


def test_the_image_installs_the_extra_when_asked() -> None:
    text = (Path(DOCKER) / "Dockerfile").read_text(encoding="utf-8")
    assert 'ARG EXTRAS=""' in text
    assert "pip install .${EXTRAS:+[${EXTRAS}]}" in text
