"""Pictures on a fixed 0–1 scale, never stretched."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from oddflights.flights.render import SEPARATOR_RGB, panel_origin, three_panel_png, to_png


def _read(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(data)))


def test_flat_half_is_mid_grey_and_not_stretched() -> None:
    px = _read(to_png(np.full((64, 64), 0.5), scale=4))
    assert px.shape == (256, 256)
    assert set(np.unique(px)) <= {127, 128}
    assert _read(to_png(np.zeros((8, 8)))).max() == 0
    assert _read(to_png(np.ones((8, 8)))).min() == 255
    # A faint image stays faint: 0.1 is not stretched up to white.
    assert _read(to_png(np.full((8, 8), 0.1))).max() == 26


def test_values_are_clipped_and_upscaled_nearest_neighbour() -> None:
    a = np.array([[-1.0, 0.25], [0.75, 2.0]])
    px = _read(to_png(a, scale=3))
    assert px.shape == (6, 6)
    np.testing.assert_array_equal(px[::3, ::3], [[0, 64], [191, 255]])
    assert (px[:3, :3] == 0).all() and (px[3:, 3:] == 255).all()
    # (N, N, 1) arrays, as Keras returns them, are fine too.
    assert _read(to_png(np.zeros((4, 4, 1)), scale=1)).shape == (4, 4)
    with pytest.raises(ValueError, match="2-D"):
        to_png(np.zeros((2, 4, 4)))


def test_three_panels_share_the_fixed_scale() -> None:
    x = np.zeros((64, 64))
    x[10, :] = 1.0
    r = np.full((64, 64), 0.5)
    px = _read(three_panel_png(x, r, scale=2))
    (x0, top), (x1, _), (x2, _) = (panel_origin(i, 64, 2) for i in range(3))
    assert px.shape == (top + 128, 3 * 128 + 2 * (x1 - x0 - 128), 3)
    grey = px[..., 0]
    assert grey[top + 19, x0 + 5] == 0 and grey[top + 20, x0 + 5] == 255  # input row 10
    assert grey[top + 5, x1 + 5] in (127, 128)  # reconstruction: flat mid-grey
    assert grey[top + 21, x2 + 5] in (127, 128)  # |1 - 0.5|
    assert grey[top + 5, x2 + 5] in (127, 128)  # |0 - 0.5|
    assert tuple(px[top + 5, x0 + 128]) == SEPARATOR_RGB
    plain = _read(three_panel_png(x, r, scale=1, labels=None))
    assert plain.shape[0] == 64
    with pytest.raises(ValueError, match="differ in shape"):
        three_panel_png(x, np.zeros((32, 32)))
