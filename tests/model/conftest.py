"""Shared fixtures: synthetic route images and one small, seeded, really trained model."""

from __future__ import annotations

import numpy as np
import pytest

from oddflights.model.synthetic import route_images
from oddflights.model.train import TrainConfig, TrainResult, train_model
from tests.model.routes import store_route_days

__all__ = ["TINY", "store_route_days"]

# Small and quick, yet enough to learn four routes: ~3 s on two cores.
TINY = TrainConfig(
    hidden=64, learning_rate=3e-3, epochs=5, batch_size=16, shift_px=1, patience=5, seed=7
)


@pytest.fixture(scope="session")
def train_images() -> np.ndarray:
    return route_images(300, width=3, seed=0)


@pytest.fixture(scope="session")
def val_images() -> np.ndarray:
    return route_images(100, width=3, seed=1)


@pytest.fixture(scope="session")
def trained(train_images: np.ndarray, val_images: np.ndarray) -> TrainResult:
    return train_model(train_images, val_images, TINY)
