"""The frame and the drawing: geometry, orientation, clipping, packing."""

from __future__ import annotations

import numpy as np
import pytest

from oddflights.flights.raster import (
    RasterSettings,
    pack,
    pack_many,
    project,
    rasterize,
    rasterize_many,
    unpack,
    unpack_many,
)

RX = (52.0, 5.0)
S = RasterSettings(size=64, line_width=1, range_km=200.0)
KM_PER_DEG = 6371.0 * np.pi / 180.0


def test_settings_key_and_dict_round_trip() -> None:
    assert S.key == "64px/1w/200km"
    assert RasterSettings.from_key(S.key) == S
    assert RasterSettings.from_dict(S.to_dict()) == S
    assert RasterSettings(32, 2, 150.5).key == "32px/2w/150.5km"
    assert S.packed_bytes == 512
    with pytest.raises(ValueError, match="not a raster key"):
        RasterSettings.from_key("64x64")
    with pytest.raises(ValueError, match="raster size 2"):
        RasterSettings(size=2)


def test_projection_is_equidistant_from_the_centre() -> None:
    x, y = project([53.0, 52.0, 51.0], [5.0, 5.0, 5.0], *RX)
    np.testing.assert_allclose(x, 0.0, atol=1e-3)
    np.testing.assert_allclose(y, [KM_PER_DEG, 0.0, -KM_PER_DEG], rtol=1e-5)
    # East along the parallel: great-circle distance, slightly less than the parallel's arc.
    x, y = project([52.0], [7.0], *RX)
    assert x[0] > 0 and y[0] > 0  # the parallel bends north of the great circle
    assert np.hypot(x[0], y[0]) == pytest.approx(137.0, abs=0.5)
    # Near the centre the float32 arithmetic still resolves metres.
    x, y = project([52.00001], [5.0], *RX)
    assert y[0] == pytest.approx(0.00111, abs=1e-4)


def test_due_north_line_through_the_receiver_lights_the_centre_column() -> None:
    lat = np.linspace(50.0, 54.0, 500)
    img = rasterize(lat, np.full(lat.shape, RX[1]), RX, S)
    cols = np.flatnonzero(img.any(axis=0))
    assert set(cols) <= {31, 32} and len(cols) >= 1
    assert img.any(axis=1).all()  # it spans the frame from top to bottom
    assert img.sum() == 64 * len(cols)


def test_north_up_east_right() -> None:
    img = rasterize([52.5], [5.7], RX, S)  # north-east of the receiver
    rows, cols = np.nonzero(img)
    assert img.sum() == 1
    assert rows[0] < 32 and cols[0] >= 32  # upper right
    img = rasterize([51.5], [4.3], RX, S)  # south-west
    rows, cols = np.nonzero(img)
    assert rows[0] >= 32 and cols[0] < 32


def test_pixel_positions_match_the_frame() -> None:
    # 100 km north is a quarter of the way down from the top edge (200 km above the centre).
    lat = RX[0] + 100.0 / KM_PER_DEG
    img = rasterize([lat], [RX[1]], RX, S)
    assert np.argwhere(img).tolist() == [[16, 32]]


def test_polyline_is_continuous_and_clipped() -> None:
    # Two points far outside the frame, on either side of it: the segment between them is
    # clipped and drawn across the whole frame, as one row.
    lat = RX[0] + 50.0 / KM_PER_DEG
    img = rasterize([lat, lat], [-5.0, 15.0], RX, S)
    assert img.sum() == 64
    assert len(np.flatnonzero(img.any(axis=1))) == 1
    # Along the meridian, from 1,000 km south to 1,000 km north: the centre column.
    img = rasterize([43.0, 61.0], [RX[1], RX[1]], RX, S)
    assert np.flatnonzero(img.any(axis=0)).tolist() == [32] and img.sum() == 64
    # Entirely outside: nothing.
    assert rasterize([60.0, 61.0], [5.0, 6.0], RX, S).sum() == 0


def test_the_drawing_does_not_depend_on_the_sampling_rate() -> None:
    t = np.linspace(0.0, 1.0, 3601)
    lat = 51.0 + 2.2 * t + 0.3 * np.sin(3 * t)
    lon = 3.0 + 3.5 * t
    dense = rasterize(lat, lon, RX, S)
    every_minute = np.r_[np.arange(0, 3601, 60), 3600]
    sparse = rasterize(lat[every_minute], lon[every_minute], RX, S)
    assert dense.sum() > 60
    assert np.abs(dense.astype(int) - sparse).sum() <= 2
    # The supercover: consecutive lit pixels share an edge, so a line of dx, dy pixels lights
    # at least dx + dy + 1 of them.
    rows, cols = np.nonzero(dense)
    assert dense.sum() >= np.ptp(rows) + np.ptp(cols) + 1


def test_batch_equals_one_by_one_and_handles_empty_and_single_points() -> None:
    rng = np.random.default_rng(1)
    tracks = [rng.normal(RX[0], 1.0, n) for n in (1, 5, 40)]
    lons = [rng.normal(RX[1], 1.5, n) for n in (1, 5, 40)]
    offsets = np.r_[0, np.cumsum([len(t) for t in tracks])]
    batch = rasterize_many(np.concatenate(tracks), np.concatenate(lons), offsets, RX, S)
    for i, (la, lo) in enumerate(zip(tracks, lons, strict=True)):
        np.testing.assert_array_equal(batch[i], rasterize(la, lo, RX, S))
    assert batch[0].sum() == 1
    assert rasterize_many([], [], [0], RX, S).shape == (0, 64, 64)


def test_line_width_dilates() -> None:
    lat = np.linspace(50.0, 54.0, 50)
    wide = rasterize(lat, np.full(50, RX[1]), RX, RasterSettings(64, 3, 200.0))
    assert np.flatnonzero(wide.any(axis=0)).tolist() == [31, 32, 33]


def test_pack_unpack_round_trip() -> None:
    rng = np.random.default_rng(0)
    img = (rng.random((64, 64)) < 0.1).astype(np.uint8)
    data = pack(img)
    assert len(data) == 512
    np.testing.assert_array_equal(unpack(data, 64), img)
    stack = (rng.random((3, 64, 64)) < 0.1).astype(np.uint8)
    blobs = pack_many(stack)
    assert blobs[1] == pack(stack[1])
    np.testing.assert_array_equal(unpack_many(blobs, 64), stack)
    odd = (rng.random((5, 5)) < 0.5).astype(np.uint8)
    np.testing.assert_array_equal(unpack(pack(odd), 5), odd)
