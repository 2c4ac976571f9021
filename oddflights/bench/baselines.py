"""Simple detectors the autoencoder must beat, scored on the same flights.

Each baseline is fitted on the training days' rasters (or features) only and returns a score
per flight, higher = odder: the lit-pixel count, PCA reconstruction error, IsolationForest,
k-nearest-neighbour distance and a cumulative-turn heuristic. scikit-learn is needed for the
PCA, IsolationForest and kNN baselines (``pip install 'oddflights[bench]'``); it is imported
here lazily, never by the core package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from oddflights.errors import OddflightsError

FloatArray = npt.NDArray[np.float64]
SKLEARN_HINT = (
    "the quality benchmark needs scikit-learn: pip install 'oddflights[bench]' "
    "(or pip install 'scikit-learn>=1.4')"
)
# PCA keeps this many components: about the autoencoder's bottleneck per routes seen.
PCA_COMPONENTS = 32
# IsolationForest works on the PCA-reduced images (4,096 binary pixels are mostly empty).
FOREST_COMPONENTS = 32
FOREST_TREES = 200
KNN_K = 5


class MissingSklearn(OddflightsError, ImportError):
    """scikit-learn is not installed (the message says how to install it)."""


def require_sklearn() -> None:
    """Raise MissingSklearn with the install hint when scikit-learn is missing."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise MissingSklearn(SKLEARN_HINT) from None


@dataclass(frozen=True)
class Inputs:
    """What baselines see: flattened 0/1 rasters and per-flight features of each split."""

    train: FloatArray  # (n, size*size)
    val: FloatArray
    test: FloatArray
    train_turn: FloatArray  # turn_cum_deg per flight
    val_turn: FloatArray
    test_turn: FloatArray


def flat(images: npt.NDArray[Any]) -> FloatArray:
    """N×H×W(×1) images as N×(H·W) float64 0/1 rows."""
    arr = np.asarray(images)
    return (arr.reshape(len(arr), -1) > 0).astype(np.float64)


def lit_pixels(x: Inputs) -> tuple[FloatArray, FloatArray]:
    """Lit-pixel count: long, wandering tracks light more pixels."""
    return x.val.sum(axis=1), x.test.sum(axis=1)


def pca_error(x: Inputs, components: int = PCA_COMPONENTS) -> tuple[FloatArray, FloatArray]:
    """Squared reconstruction error under a PCA fitted on the training rasters."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=min(components, *x.train.shape), random_state=0).fit(x.train)

    def err(a: FloatArray) -> FloatArray:
        back = pca.inverse_transform(pca.transform(a))
        return np.asarray(((a - back) ** 2).sum(axis=1), dtype=np.float64)

    return err(x.val), err(x.test)


def isolation_forest(x: Inputs, seed: int = 0) -> tuple[FloatArray, FloatArray]:
    """IsolationForest on PCA-reduced training rasters (negated score: higher = odder)."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    pca = PCA(n_components=min(FOREST_COMPONENTS, *x.train.shape), random_state=0).fit(x.train)
    forest = IsolationForest(n_estimators=FOREST_TREES, random_state=seed).fit(
        pca.transform(x.train)
    )
    return (
        -np.asarray(forest.score_samples(pca.transform(x.val)), dtype=np.float64),
        -np.asarray(forest.score_samples(pca.transform(x.test)), dtype=np.float64),
    )


def knn_distance(x: Inputs, k: int = KNN_K) -> tuple[FloatArray, FloatArray]:
    """Mean Euclidean distance to the k nearest training rasters."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(k, len(x.train))).fit(x.train)

    def dist(a: FloatArray) -> FloatArray:
        d, _ = nn.kneighbors(a)
        return np.asarray(d.mean(axis=1), dtype=np.float64)

    return dist(x.val), dist(x.test)


def cumulative_turn(x: Inputs) -> tuple[FloatArray, FloatArray]:
    """Cumulative turning (degrees): orbits, holds, surveys and gliders turn a lot."""
    return np.nan_to_num(x.val_turn), np.nan_to_num(x.test_turn)


BASELINES: dict[str, Callable[[Inputs], tuple[FloatArray, FloatArray]]] = {
    "lit_pixels": lit_pixels,
    "pca_error": pca_error,
    "isolation_forest": isolation_forest,
    "knn_distance": knn_distance,
    "turn_cum": cumulative_turn,
}


def baseline_scores(x: Inputs) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Every baseline's (validation scores, test scores); MissingSklearn without sklearn."""
    require_sklearn()
    return {name: fn(x) for name, fn in BASELINES.items()}
