"""Three-panel pictures (input | reconstruction | |difference|) for the page and the report,
with the models' detectors kept between requests.

`oddflights.scoring.pictures.residual_png` reads the model's detector for every picture unless
it is given a loader; a day page asks for dozens at once, so the detectors are read once here
and kept. A detector is numpy arrays (a few MB) and its reconstruction two matrix products.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy.engine import Engine

from oddflights.model.detector import Detector
from oddflights.scoring.pictures import residual_png
from oddflights.scoring.score import load_detector

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
