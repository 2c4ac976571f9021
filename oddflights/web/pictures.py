"""Three-panel pictures (input | reconstruction | |difference|) for the page and the report,
with the models' detectors kept between requests.

`oddflights.scoring.pictures.residual_png` reads the model's detector for every picture unless
it is given a loader; a day page asks for dozens at once, so the detectors are read once here
and kept. A detector is numpy arrays (a few MB) and its reconstruction two matrix products.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from PIL import Image
from sqlalchemy.engine import Engine

from oddflights.db.registry import list_models
from oddflights.model.detector import Detector
from oddflights.scoring.pictures import residual_png
from oddflights.scoring.score import load_detector

_log = logging.getLogger(__name__)

# A handful of models covers every day a person pages through; each holds a few MB.
MAX_MODELS = 4
MAX_PICTURES = 512


class PictureMaker:
    """Makes residual pictures from one engine, caching detectors and finished PNGs
    (a stored flight and model never change, so a picture never goes stale)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._detectors: OrderedDict[int, Detector] = OrderedDict()
        self._pngs: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        # One picture at a time keeps the caches simple; a picture takes milliseconds.
        self._lock = threading.Lock()

    def _detector(self, model_id: int) -> Detector:
        if model_id in self._detectors:
            self._detectors.move_to_end(model_id)
            return self._detectors[model_id]
        detector = load_detector(self.engine, model_id)
        self._detectors[model_id] = detector
        while len(self._detectors) > MAX_MODELS:
            self._detectors.popitem(last=False)
        return detector

    def warm(self) -> list[int]:
        """Load now what the first picture would: PIL's image format plugins (it loads them
        on the first save) and the detector of each receiver's newest ready model (up to
        MAX_MODELS; reading one is tens of MB of database pages). Returns the ids of those
        loaded. The web app calls it as it starts, so that no visitor waits for it. Only a
        head start: a detector that cannot be loaded is logged and left to its picture's
        request, which fails visibly as before."""
        Image.preinit()
        newest: dict[int, int] = {}
        for info in list_models(self.engine):  # oldest first: the newest wins
            if info.status == "ready" and info.has_detector:
                newest[info.receiver_id] = info.id
        loaded = []
        with self._lock:
            for model_id in sorted(newest.values())[-MAX_MODELS:]:
                try:
                    self._detector(model_id)
                except Exception as exc:  # whatever it is, the picture's request says it
                    _log.warning("model %d's detector not loaded at start: %s", model_id, exc)
                else:
                    loaded.append(model_id)
        return loaded

    def residual_png(self, flight_id: int, model_id: int, scale: int = 4) -> bytes:
        """The picture of ``flight_id`` under ``model_id``; FlightNotFound / ModelNotFound
        name what is missing, ScoringError a model that must be retrained."""
        key = (flight_id, model_id, scale)
        with self._lock:
            if key in self._pngs:
                self._pngs.move_to_end(key)
                return self._pngs[key]
            png = residual_png(self.engine, flight_id, model_id, scale, loader=self._detector)
            self._pngs[key] = png
            while len(self._pngs) > MAX_PICTURES:
                self._pngs.popitem(last=False)
            return png
