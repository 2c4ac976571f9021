"""`oddflights docker ingest`, the image's default command, as a real process: it sets up
the receiver from the variables, then becomes the live ingest of SBSHOST:SBSPORT (no
Docker needed: the same variables on a plain process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oddflights.db import open_db
from oddflights.db.positions import read_positions
from oddflights.db.receivers import get_receiver
from tests.ingest.helpers import LAT, LON, sbs_bytes
from tests.ingest.test_live import Replay

ODDFLIGHTS = str(Path(sys.executable).with_name("oddflights"))


@pytest.mark.slow
def test_docker_ingest_sets_up_then_ingests_the_feed(tmp_path: Path) -> None:
    payload = sbs_bytes()
    feed = Replay([payload], hold_last_open=True)
    (tmp_path / "data").mkdir()  # the image's volume
    url = f"sqlite:///{tmp_path / 'data' / 'oddflights.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODDFLIGHTS_")}
    env |= {
        "ODDFLIGHTS_DB": url,
        "LAT": str(LAT),
        "LONG": str(LON),
        "TZ": "UTC",
        "RECEIVER_NAME": "roof",
        "SBSHOST": "127.0.0.1",
        "SBSPORT": str(feed.port),
    }
    proc = subprocess.Popen(
        [ODDFLIGHTS, "docker", "ingest"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = None
    try:
        deadline = time.monotonic() + 120
        stored = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if engine is None and (tmp_path / "data" / "oddflights.db").exists():
                engine = open_db(url, migrate=False)
            if engine is not None:
                try:
                    receiver = get_receiver(engine, "roof")
                    assert receiver.id is not None
                    stored = len(read_positions(engine, receiver.id))
                except Exception:  # the schema is still being made
                    continue
                if stored >= 1000:
                    break
        assert proc.poll() is None, proc.communicate()
        assert stored >= 1000
        # The ingest became this very process (exec): Docker's stop signal reaches it.
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        feed.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if engine is not None:
            engine.dispose()
    assert "Receiver roof created: 52.0000, 4.5000, range 200 km" in err
    assert "sbs feed 127.0.0.1:" in err and "Traceback" not in err
