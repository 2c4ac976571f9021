"""Copy Leaflet (BSD-2-Clause) from the npm registry into oddflights/web/static/leaflet/, so
that the optional tile map (setting ``tile_url``) is served by oddflights itself, never from
a CDN.

    python tools/vendor_leaflet.py
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "leaflet@1.9.4"
OUT = Path(__file__).resolve().parents[1] / "oddflights" / "web" / "static" / "leaflet"
FILES = {"dist/leaflet.js": "leaflet.js", "dist/leaflet.css": "leaflet.css", "LICENSE": "LICENSE"}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=folder, check=True)
        with tarfile.open(next(folder.glob("leaflet-*.tgz"))) as tar:
            tar.extractall(folder, filter="data")
        OUT.mkdir(parents=True, exist_ok=True)
        for src, dst in FILES.items():
            shutil.copyfile(folder / "package" / src, OUT / dst)
    print(f"{PACKAGE} -> {OUT}")


if __name__ == "__main__":
    main()
