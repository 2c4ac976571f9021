"""Build oddflights/web/data/basemap.json.gz from Natural Earth's 1:50m land and countries,
as the npm package `world-atlas` (version 2) ships them as TopoJSON, and Natural Earth's
1:50m lakes (``ne_50m_lakes.geojson``; world-atlas has no lakes).

    python tools/build_basemap.py            # world-atlas by `npm pack`, lakes from GitHub
    python tools/build_basemap.py --from DIR --lakes FILE  # local copies of both

Natural Earth is in the public domain; world-atlas (ISC) only converts it. The output holds:
``land`` (polygons: lists of rings, coastlines are their outlines), ``borders`` (lines:
arcs that two countries share) and ``lakes`` (polygons, islands as inner rings), every ring
or line as integer hundredths of a degree, delta-encoded ([lon0, lat0, dlon1, dlat1, ...]),
simplified to about 0.01°.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "world-atlas@2.0.2"
OUT = Path(__file__).resolve().parents[1] / "oddflights" / "web" / "data" / "basemap.json.gz"
SCALE = 100  # hundredths of a degree (~1 km): finer than a map of a few hundred km shows
TOLERANCE_DEG = 0.01
# Natural Earth's own GeoJSON export, at a release tag (the file is the same for everyone).
LAKES_URL = (
    "https://raw.githubusercontent.com/nvkelso/natural-earth-vector/v5.1.2/geojson/"
    "ne_50m_lakes.geojson"
)
# Lakes smaller than this (square degrees, ~25 km² in the Netherlands) are left out: at the
# scales the pages draw, they are specks.
MIN_LAKE_DEG2 = 0.003


def fetch(folder: Path) -> Path:
    """Unpack world-atlas (from the npm registry, by `npm pack`) into ``folder``."""
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=folder, check=True)
    tgz = next(folder.glob("world-atlas-*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(folder, filter="data")
    return folder / "package"


def decode_arcs(topo: dict[str, Any]) -> list[np.ndarray]:
    """Each arc of a quantized TopoJSON topology as (n, 2) lon/lat degrees."""
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        q = np.cumsum(np.asarray(arc, dtype=np.int64), axis=0)
        out.append(np.column_stack((q[:, 0] * sx + tx, q[:, 1] * sy + ty)))
    return out


def simplify(points: np.ndarray, tol: float) -> np.ndarray:
    """Douglas-Peucker with the ends kept (so arcs still meet)."""
    if len(points) < 3:
        return points
    keep = np.zeros(len(points), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        seg = points[b] - points[a]
        rel = points[a + 1 : b] - points[a]
        norm = float(np.hypot(*seg))
        if norm == 0.0:
            dist = np.hypot(rel[:, 0], rel[:, 1])
        else:
            dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm
        i = int(np.argmax(dist))
        if dist[i] > tol:
            keep[a + 1 + i] = True
            stack += [(a, a + 1 + i), (a + 1 + i, b)]
    return points[keep]


def _arc(arcs: list[np.ndarray], index: int) -> np.ndarray:
    return arcs[index] if index >= 0 else arcs[~index][::-1]


def ring(arcs: list[np.ndarray], indexes: list[int]) -> np.ndarray:
    """The ring made of ``indexes`` (TopoJSON: ~i is arc i reversed), arcs joined end to end."""
    parts = [_arc(arcs, i) for i in indexes]
    return np.concatenate([parts[0], *[p[1:] for p in parts[1:]]])


def encode(points: np.ndarray) -> list[int] | None:
    """Integer hundredths of a degree, delta-encoded; None when it collapses to < 2 points."""
    q = np.rint(points * SCALE).astype(np.int64)
    q = q[np.r_[True, np.any(np.diff(q, axis=0) != 0, axis=1)]]
    if len(q) < 2:
        return None
    d = np.vstack((q[:1], np.diff(q, axis=0)))
    return [int(v) for v in d.ravel()]


def fetch_lakes(folder: Path) -> Path:
    """Download Natural Earth's ne_50m_lakes.geojson into ``folder``."""
    out = folder / "ne_50m_lakes.geojson"
    with urllib.request.urlopen(LAKES_URL, timeout=60) as resp:
        out.write_bytes(resp.read())
    return out


def ring_area(points: np.ndarray) -> float:
    """The shoelace area of a closed ring, in square degrees."""
    x, y = points[:, 0], points[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2.0


def build_lakes(geojson: dict[str, Any]) -> list[list[list[int]]]:
    """The lakes of a Natural Earth lakes GeoJSON: polygons (outer ring, then islands), each
    ring simplified and encoded; lakes under MIN_LAKE_DEG2 are dropped."""
    lakes = []
    for feature in geojson["features"]:
        geom = feature.get("geometry") or {}
        if geom.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        for poly in polys:
            rings = [np.asarray(r, dtype=float)[:, :2] for r in poly]
            if not rings or ring_area(rings[0]) < MIN_LAKE_DEG2:
                continue
            encoded = [encode(simplify(r, TOLERANCE_DEG)) for r in rings]
            if encoded[0] is None or len(encoded[0]) < 8:  # the outer ring collapsed
                continue
            lakes.append([r for r in encoded if r is not None and len(r) >= 8])
    return lakes


def build(src: Path, lakes_file: Path | None = None) -> dict[str, Any]:
    """The basemap data from world-atlas's countries-50m.json and land-50m.json in ``src``,
    and the lakes of ``lakes_file`` (Natural Earth's ne_50m_lakes.geojson)."""
    land_topo = json.loads((src / "land-50m.json").read_text())
    arcs = [simplify(a, TOLERANCE_DEG) for a in decode_arcs(land_topo)]
    land = []
    for geom in land_topo["objects"]["land"]["geometries"]:
        polys = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
        for poly in polys:
            rings = [encode(ring(arcs, r)) for r in poly]
            rings = [r for r in rings if r is not None and len(r) >= 8]
            if rings:
                land.append(rings)

    countries = json.loads((src / "countries-50m.json").read_text())
    carcs = [simplify(a, TOLERANCE_DEG) for a in decode_arcs(countries)]
    users: dict[int, set[int]] = {}
    for g, geom in enumerate(countries["objects"]["countries"]["geometries"]):
        polys = geom.get("arcs") or []
        polys = polys if geom["type"] == "MultiPolygon" else [polys]
        for poly in polys:
            for r in poly:
                for i in r:
                    users.setdefault(i if i >= 0 else ~i, set()).add(g)
    borders = []
    for i, who in sorted(users.items()):
        if len(who) >= 2:
            line = encode(carcs[i])
            if line is not None:
                borders.append(line)
    lakes = [] if lakes_file is None else build_lakes(json.loads(lakes_file.read_bytes()))
    return {
        "source": f"Natural Earth 1:50m (public domain), via npm {PACKAGE} and ne_50m_lakes",
        "scale": SCALE,
        "land": land,
        "borders": borders,
        "lakes": lakes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="src", type=Path, help="unpacked world-atlas folder")
    parser.add_argument("--lakes", type=Path, help="a local ne_50m_lakes.geojson")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = args.src or fetch(Path(tmp))
        data = build(src, args.lakes or fetch_lakes(Path(tmp)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, separators=(",", ":")).encode()
    # mtime=0: the same input gives the same bytes (the file is committed).
    args.out.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    n_land = sum(len(r) // 2 for p in data["land"] for r in p)
    n_border = sum(len(b) // 2 for b in data["borders"])
    n_lake = sum(len(r) // 2 for p in data["lakes"] for r in p)
    print(
        f"{args.out}: {args.out.stat().st_size} bytes, {n_land} land, {n_border} border and "
        f"{n_lake} lake points ({len(data['lakes'])} lakes)"
    )


if __name__ == "__main__":
    main()
