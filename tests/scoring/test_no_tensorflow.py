"""TensorFlow is for training only: the CLI, scoring, the web app and the nightly import it
not, and scoring a day with a stored model and drawing its picture do not load it either."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import date, timedelta

    import oddflights.cli
    import oddflights.scheduler.nightly
    import oddflights.scoring.score
    import oddflights.web.app
    from click.testing import CliRunner
    from starlette.testclient import TestClient

    from oddflights.db import open_db
    from oddflights.db.flights import list_flights, read_rasters
    from oddflights.db.receivers import add_receiver
    from oddflights.db.registry import insert_model
    from oddflights.receivers import Receiver
    from tests.model.routes import made_up_detector, store_route_days

    url = sys.argv[1]
    d0 = date(2026, 1, 1)
    engine = open_db(url)
    rec = add_receiver(engine, Receiver("roof", 52.0, 4.5))
    store_route_days(engine, rec.id, [d0, d0 + timedelta(days=1)], 30)
    det = made_up_detector(read_rasters(engine, rec.id, [d0]).images)
    model_id = insert_model(
        engine, receiver_id=rec.id, train_from=d0, train_to=d0, validation_days=[d0],
        config={}, raster=det.raster.to_dict(), metrics={}, threshold=det.threshold,
        calibration={}, versions={}, seed=0, status="ready", keras_bytes=None,
        detector_bytes=det.to_bytes(),
    )
    day = (d0 + timedelta(days=1)).isoformat()
    args = ["score", "--receiver", "roof", "--day", day, "--db", url]
    result = CliRunner().invoke(oddflights.cli.main, args)
    assert result.exit_code == 0, result.output
    assert "30 flights scored" in result.output, result.output
    fid = int(list_flights(engine, rec.id, d0 + timedelta(days=1))["flight_id"].iloc[0])
    with TestClient(oddflights.web.app.create_app(engine)) as client:
        page = client.get(f"/img/residual/{fid}.png")
        assert page.status_code == 200 and page.content[:4] == b"\\x89PNG", page.text
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
    print("LEAKED", leaked)
    """
)


def test_scoring_and_pictures_never_import_tensorflow(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    script = tmp_path / "no_tf.py"
    script.write_text(_SCRIPT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), f"sqlite:///{tmp_path / 'x.db'}"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LEAKED []" in done.stdout, done.stdout
