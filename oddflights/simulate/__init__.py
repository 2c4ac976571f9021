"""The simulated receiver: seeded ADS-B traffic with labelled anomalies, and its files.

``simulate(config)`` builds positions and labels in memory; ``write_simulation`` writes them
in the formats ingest reads. With ``SimConfig(day_variation=True)`` days differ as real ones
do; ``day_plan``/``day_plans`` say how (cheaply, without flying any traffic) and
``DayOverride`` forces a day's runway configuration, coverage or rare routes.
"""

from oddflights.simulate.anomalies import KINDS
from oddflights.simulate.days import COVERAGES, RARE_ROUTES, RUNWAY_CONFIGS, DayOverride, DayPlan
from oddflights.simulate.simulation import (
    SimConfig,
    Simulation,
    SimulationError,
    day_plan,
    day_plans,
    simulate,
    world_for,
)
from oddflights.simulate.writers import read_labels, write_simulation

__all__ = [
    "COVERAGES",
    "KINDS",
    "RARE_ROUTES",
    "RUNWAY_CONFIGS",
    "DayOverride",
    "DayPlan",
    "SimConfig",
    "Simulation",
    "SimulationError",
    "day_plan",
    "day_plans",
    "read_labels",
    "simulate",
    "world_for",
    "write_simulation",
]
