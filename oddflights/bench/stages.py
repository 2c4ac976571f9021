"""Imports every benchmark stage module so that each registers itself."""

from __future__ import annotations

import importlib
import logging

_log = logging.getLogger(__name__)

# A stage whose module cannot import (an optional part missing) is left out, not fatal.
for _name in (
    "speed_ingest",
    "speed_live",
    "speed_flights",
    "speed_train",
    "speed_nightly",
):
    try:
        importlib.import_module(f"oddflights.bench.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"oddflights.bench.{_name}":
            raise
        _log.debug("benchmark stage module %s not present", _name)
