"""Three-panel pictures (input | reconstruction | |difference|) for the page and the report,
with the loaded models kept between requests.

`oddflights.scoring.explain.residual_png` loads the model for every picture unless it is given
a loader; a day page asks for dozens at once, so the models are loaded once here and kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy.engine import Engine

# A handful of models covers every day a person pages through; each holds a few MB.
MAX_MODELS = 4
MAX_PICTURES = 512


class PictureMaker:
    """Makes residual pictures from one engine, caching loaded models and finished PNGs
    (a stored flight and model never change, so a picture never goes stale)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._models: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._pngs: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        # Keras loading and calls from many server threads at once are not worth the risk;
        # a picture takes milliseconds once its model is loaded.
        self._lock = threading.Lock()

    def _model(self, model_id: int) -> tuple[Any, Any]:
        from oddflights.model.registry import load_model

        if model_id in self._models:
            self._models.move_to_end(model_id)
            return self._models[model_id]
        loaded = load_model(self.engine, model_id)
        self._models[model_id] = loaded
        while len(self._models) > MAX_MODELS:
            self._models.popitem(last=False)
        return loaded

    def residual_png(self, flight_id: int, model_id: int, scale: int = 4) -> bytes:
        """The picture of ``flight_id`` under ``model_id``; FlightNotFound / ModelNotFound
        name what is missing."""
        from oddflights.scoring.explain import residual_png

        key = (flight_id, model_id, scale)
        with self._lock:
            if key in self._pngs:
                self._pngs.move_to_end(key)
                return self._pngs[key]
            png = residual_png(self.engine, flight_id, model_id, scale, loader=self._model)
            self._pngs[key] = png
            while len(self._pngs) > MAX_PICTURES:
                self._pngs.popitem(last=False)
            return png
