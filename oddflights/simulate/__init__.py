"""The simulated receiver: seeded ADS-B traffic with labelled anomalies, and its files.

``simulate(config)`` builds positions and labels in memory; ``write_simulation`` writes them
in the formats ingest reads.
"""

from oddflights.simulate.anomalies import KINDS
from oddflights.simulate.simulation import (
    SimConfig,
    Simulation,
    SimulationError,
    simulate,
    world_for,
)
from oddflights.simulate.writers import write_simulation

__all__ = [
    "KINDS",
    "SimConfig",
    "Simulation",
    "SimulationError",
    "simulate",
    "world_for",
    "write_simulation",
]
