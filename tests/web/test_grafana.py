"""docker/grafana-oddflights.json asks only for series that /metrics exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from oddflights.db.web_queries import open_readonly
from oddflights.web.app import create_app
from tests.web.conftest import SmallDb

DASHBOARD = Path(__file__).resolve().parents[2] / "docker" / "grafana-oddflights.json"


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def test_every_metric_in_the_dashboard_is_exported(small_db: SmallDb) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["panels"], "a dashboard with panels"
    named = {m for e in _exprs(dashboard) for m in re.findall(r"\boddflights_[a-z_]+", e)}
    assert len(named) >= 4, named
    engine = open_readonly(small_db.url)
    try:
        with TestClient(create_app(engine)) as client:
            text = client.get("/metrics").text
    finally:
        engine.dispose()
    # Every family is described (HELP, TYPE) even while it has no sample (r1 has no
    # positions here): a misspelt or dropped name is caught either way.
    families = list(text_string_to_metric_families(text))
    exported = {family.name for family in families}
    # A counter family is named without the ``_total`` its samples carry.
    exported |= {f"{f.name}_total" for f in families if f.type == "counter"}
    missing = named - exported
    assert not missing, f"the dashboard asks for series /metrics does not export: {missing}"
