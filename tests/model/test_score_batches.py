"""score_images works a batch of images at a time (memory): every score function gives the
scores it gives on all the images at once, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from oddflights.model import score as score_module
from oddflights.model.score import SCORE_FNS, score_images


@pytest.mark.parametrize("fn", sorted(SCORE_FNS))
def test_scores_in_batches_equal_scores_at_once(fn: str) -> None:
    rng = np.random.default_rng(3)
    n = 3 * score_module.SCORE_BATCH + 5  # batches and a remainder
    images = (rng.random((n, 16, 16, 1)) < 0.1).astype(np.float32)
    images[0] = 0.0  # an empty image
    recon = rng.random((n, 16, 16, 1)).astype(np.float32)
    batched = score_images(images, recon, fn)
    at_once = SCORE_FNS[fn](images, recon)
    assert batched.dtype == np.float64 and batched.shape == (n,)
    assert np.array_equal(batched, at_once)
