"""Per-stage speed benchmarks: a registry of stages, each reporting medians against targets."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from oddflights.errors import InvalidConfig
from oddflights.progress import ProgressFn, Step, tell
from oddflights.simulate import SimConfig, simulate

StageFn = Callable[["SpeedContext"], list["StageResult"]]
STAGES: dict[str, StageFn] = {}


def register_stage(name: str) -> Callable[[StageFn], StageFn]:
    """Register a benchmark stage under ``name`` (the ``--stage`` value)."""

    def decorate(fn: StageFn) -> StageFn:
        STAGES[name] = fn
        return fn

    return decorate


@dataclass(frozen=True)
class StageResult:
    """One measured figure: the median over repeats, beside its target."""

    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def meets(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "meets": self.meets,
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass
class SpeedContext:
    """What a stage gets: the workload size, repeats, a scratch folder and helpers."""

    flights_per_day: int
    repeats: int
    workdir: Path
    pg_url: str | None = None
    seed: int = 0

    @cached_property
    def _simulation(self) -> Any:
        return simulate(
            SimConfig(
                lat=52.0,
                lon=4.5,
                days=1,
                flights_per_day=self.flights_per_day,
                start_day=date(2026, 1, 15),
                seed=self.seed,
            )
        )

    def simulation(self) -> Any:
        """One simulated day at ``flights_per_day`` (made once, shared by stages)."""
        return self._simulation

    def timed(self, fn: Callable[[], object]) -> list[float]:
        """Seconds taken by each of ``repeats`` calls of ``fn``."""
        times = []
        for _ in range(self.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return times


def median(values: list[float]) -> float:
    """The median (what every speed figure reports: the machines are shared and noisy)."""
    return float(statistics.median(values))


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def run_speed(
    stages: list[str], ctx: SpeedContext, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """Run the named stages (all when empty); JSON-ready ``{"stages": …, "machine": …}``.
    ``progress`` hears of each stage as it starts."""
    from oddflights.bench import stages as _registered  # noqa: F401  (fills STAGES)

    names = stages or sorted(STAGES)
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise InvalidConfig(
            f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(sorted(STAGES))}"
        )
    results: dict[str, Any] = {}
    for i, name in enumerate(names):
        tell(progress, Step("bench", i, len(names), name))
        for res in STAGES[name](ctx):
            results[res.name] = res.to_json()
    return {
        "stages": results,
        "machine": machine_info(),
        "flights_per_day": ctx.flights_per_day,
        "repeats": ctx.repeats,
    }
