"""The fitted detector: everything that decides "is this flight odd", in numpy, stored with its
model.

A ``Detector`` is fitted once, at the end of training, and stored in the ``models.detector``
column; scoring, the pictures and the web page use it as it is. It holds the autoencoder's
weights (the seed's model is Flatten → Dense(relu) → Dense(sigmoid): two matrix products),
the raster settings the model was trained on, the per-flight score function, the scale of
each part of the combined score, the combination and its threshold. Running it needs numpy
only, never TensorFlow.

The combined score (``ae_turn``): the reconstruction error and the flight's cumulative
turning, each scaled as ``z = (x - median) / (p99 - median)`` on the validation day's flights,
and the score is the larger z. Why: the dense autoencoder sees a 64×64 picture in which a
3-lap holding pattern is a small blob at the end of an ordinary arrival; turning ~1,000° more
than any airliner does is plain from the track. Conversely a straight flight where nobody
flies turns no more than an airliner, but the autoencoder cannot draw it. ``ae`` is the
reconstruction error alone. No labels are used: only the held-out day(s) of normal traffic.

``ae_turn_rarity`` adds a third scaled part, the pixel rarity (PixelRarity: how few training
flights crossed the flight's rarest pixels). Measured (issue 14, BENCHMARKS.md) it lowers the
false alarms on the coverage day but costs recall everywhere (a third part lifts the
threshold), so it is an option, not the default.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from oddflights.errors import OddflightsError
from oddflights.flights.raster import RasterSettings
from oddflights.model.score import SCORE_FNS, as_model_input, score_images
from oddflights.model.threads import pin_blas_threads
from oddflights.model.threshold import Calibration, ThresholdRule, calibrate

FloatArray = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

# 3: the pixel rarity (counts, k, dilation, scale, threshold) may be stored; 2: the threshold
# rule (method, false alarms per 1000, presumed odd share) is stored; 1 was the percentile
# rule only. Older versions still load (without the rarity; 1 with the percentile rule).
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
# Which scaled parts each combination takes the maximum of ("ae" alone is not scaled).
_PARTS: dict[str, tuple[str, ...]] = {
    "ae": ("ae",),
    "ae_turn": ("ae", "turn"),
    "ae_turn_rarity": ("ae", "turn", "rarity"),
}
COMBINATIONS = tuple(_PARTS)
_SPAN_PERCENTILE = 99.0
# The pixel rarity's defaults: a flight's k rarest pixels (a 64 px frame's off-route line
# crosses dozens), counted with a 1 px neighbourhood (an airway's width).
RARITY_K = 20
RARITY_DILATE = 1
# Rows per matrix product: bounds the float32 hidden/output buffers (~16 MB for 64×64).
_BATCH = 1024


class DetectorError(OddflightsError, ValueError):
    """Stored detector bytes that cannot be read (another format version, damaged)."""


@dataclass(frozen=True)
class Scale:
    """How one part of the combined score is scaled: ``(x - centre) / span``."""

    centre: float
    span: float

    @classmethod
    def fit(cls, values: npt.ArrayLike) -> Scale:
        """Median and (99th percentile - median) of ``values``; span 1 when they agree."""
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return cls(0.0, 1.0)
        centre = float(np.median(v))
        span = float(np.percentile(v, _SPAN_PERCENTILE)) - centre
        if not span > 0:
            span = float(np.std(v)) or 1.0
        return cls(centre, span)

    def __call__(self, values: npt.ArrayLike) -> FloatArray:
        v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=self.centre)
        return (v - self.centre) / self.span


@dataclass(frozen=True)
class Autoencoder:
    """The seed autoencoder's weights: ``sigmoid(relu(x @ W1 + b1) @ W2 + b2)`` on the
    flattened image (Keras' Dense layers, same layout)."""

    encoder_kernel: F32  # (size*size, hidden)
    encoder_bias: F32  # (hidden,)
    decoder_kernel: F32  # (hidden, size*size)
    decoder_bias: F32  # (size*size,)

    def __post_init__(self) -> None:
        d, h = self.encoder_kernel.shape
        if (
            self.encoder_bias.shape != (h,)
            or self.decoder_kernel.shape != (h, d)
            or self.decoder_bias.shape != (d,)
        ):
            raise ValueError(
                "autoencoder weights do not fit together: "
                f"{self.encoder_kernel.shape}, {self.encoder_bias.shape}, "
                f"{self.decoder_kernel.shape}, {self.decoder_bias.shape}"
            )

    @property
    def size(self) -> int:
        """The image side in pixels."""
        return math.isqrt(int(self.encoder_kernel.shape[0]))

    def reconstruct(self, images: npt.NDArray[Any]) -> F32:
        """Reconstructions (N×size×size×1 float32 in (0, 1)) of N images (uint8/bool/float).

        Equal images get bit-equal reconstructions (so equal scores, ranked by flight id as
        Keras' were): each distinct image is reconstructed once. A BLAS product alone does not
        promise that: rows at different places in a batch may be summed in another order.
        Nor does BLAS's thread count, which groups the rows: it is fixed (``model_threads``),
        so the scores are the same under any OMP_NUM_THREADS and on any number of cores.
        """
        pin_blas_threads()
        x = as_model_input(images)
        n = len(x)
        flat = x.reshape(n, -1)
        if n == 0:
            return x
        unique, inverse = _distinct_rows(flat)
        out = np.empty((len(unique), flat.shape[1]), dtype=np.float32)
        for i in range(0, len(unique), _BATCH):
            hidden = unique[i : i + _BATCH] @ self.encoder_kernel
            hidden += self.encoder_bias
            np.maximum(hidden, 0.0, out=hidden)
            logits = hidden @ self.decoder_kernel
            logits += self.decoder_bias
            # sigmoid, in place; float32 like Keras (exp overflowing to inf gives 0: fine)
            np.negative(logits, out=logits)
            with np.errstate(over="ignore"):
                np.exp(logits, out=logits)
            logits += 1.0
            np.reciprocal(logits, out=logits)
            out[i : i + _BATCH] = logits
        return out[inverse].reshape(x.shape)

    @classmethod
    def from_keras(cls, model: Any) -> Autoencoder:
        """The weights of a built seed model (layers ``encoder`` and ``decoder``)."""
        w1, b1 = model.get_layer("encoder").get_weights()
        w2, b2 = model.get_layer("decoder").get_weights()
        return cls(*(np.asarray(w, dtype=np.float32) for w in (w1, b1, w2, b2)))

    @classmethod
    def from_keras_file(cls, data: bytes) -> Autoencoder:
        """The weights read from the bytes of a stored ``.keras`` file without Keras: it is a
        zip of ``config.json`` and ``model.weights.h5``, where Dense layers are stored as
        ``layers/dense``, ``layers/dense_1``… in the order of the model's layers (h5py is
        installed with TensorFlow; ImportError without it)."""
        import h5py  # only for converting models stored before the detector existed

        with zipfile.ZipFile(io.BytesIO(data)) as z:
            layers = json.loads(z.read("config.json"))["config"]["layers"]
            weights = z.read("model.weights.h5")
        dense = [layer["config"]["name"] for layer in layers if layer["class_name"] == "Dense"]
        if dense != ["encoder", "decoder"]:
            raise ValueError(f"not the seed autoencoder: Dense layers {dense}")
        with h5py.File(io.BytesIO(weights), "r") as f:
            enc, dec = f["layers/dense/vars"], f["layers/dense_1/vars"]
            arrays = [np.asarray(g[k], dtype=np.float32) for g in (enc, dec) for k in ("0", "1")]
        return cls(*arrays)


@dataclass(frozen=True)
class PixelRarity:
    """How rarely the training days' flights crossed each pixel, and a flight's rarity: the
    mean of ``-log((count + 0.5) / (n + 1))`` over the ``k`` rarest pixels it crosses.

    ``counts`` holds, per pixel, how many training flights lit it or (``dilate`` px) a pixel
    next to it: an airway's neighbours are not rare, as real airways are a few pixels wide.
    A track cut short by range or an outage crosses only common pixels and is not rare; a
    straight flight where nobody flies is, whatever the autoencoder draws.
    """

    counts: F32  # (size*size,)
    n: int
    k: int = 20
    dilate: int = 1

    def __post_init__(self) -> None:
        if self.counts.ndim != 1 or math.isqrt(self.counts.size) ** 2 != self.counts.size:
            raise ValueError(f"pixel counts of shape {self.counts.shape} are not a square image")
        if self.k < 1 or self.n < 0 or self.dilate < 0:
            raise ValueError(f"pixel rarity needs k >= 1, n >= 0, dilate >= 0 (got {self})")

    @classmethod
    def fit(cls, images: npt.NDArray[Any], k: int = 20, dilate: int = 1) -> PixelRarity:
        """Count, per pixel, the ``images`` (N×size×size[×1]) lit there or within ``dilate``
        px (a square neighbourhood)."""
        lit = as_model_input(images)[..., 0] > 0.5
        counts = np.zeros(lit.shape[1:], dtype=np.float64)
        for i in range(0, len(lit), _BATCH):
            counts += _dilated(lit[i : i + _BATCH], dilate).sum(axis=0)
        return cls(counts.ravel().astype(np.float32), len(lit), int(k), int(dilate))

    @property
    def surprise(self) -> FloatArray:
        """Per pixel, ``-log`` of the share of training flights that crossed it (smoothed)."""
        c = self.counts.astype(np.float64)
        return np.asarray(-np.log((c + 0.5) / (self.n + 1.0)))

    def __call__(self, images: npt.NDArray[Any]) -> FloatArray:
        """Each image's rarity: the mean surprise of its ``k`` rarest lit pixels (fewer when
        it lights fewer; 0 for an empty image)."""
        x = as_model_input(images)
        lit = x.reshape(len(x), -1) > 0.5
        if lit.shape[1] != self.counts.size:
            raise ValueError(f"{lit.shape[1]}-pixel images, rarity of {self.counts.size}")
        surprise = self.surprise
        out = np.zeros(len(x), dtype=np.float64)
        for i, row in enumerate(lit):
            vals = surprise[row]
            if vals.size > self.k:
                vals = np.partition(vals, vals.size - self.k)[-self.k :]
            out[i] = float(vals.mean()) if vals.size else 0.0
        return out


def _dilated(lit: npt.NDArray[np.bool_], px: int) -> npt.NDArray[np.bool_]:
    """``lit`` (N×H×W) with every pixel within ``px`` (square) of a lit one lit too."""
    if px == 0:
        return lit
    n, h, w = lit.shape
    padded = np.zeros((n, h + 2 * px, w + 2 * px), dtype=bool)
    padded[:, px : px + h, px : px + w] = lit
    out = np.zeros_like(lit)
    for dy in range(2 * px + 1):
        for dx in range(2 * px + 1):
            out |= padded[:, dy : dy + h, dx : dx + w]
    return out


@dataclass(frozen=True)
class Detector:
    """A fitted detector, stored with its model. Higher scores are odder; a flight is flagged
    when its score is above ``threshold``.

    ``ae_threshold`` is the threshold of the validation flights' reconstruction errors,
    ``combined_threshold`` that of their combined scores, both set by the same rule
    (``threshold_method``: ``false_alarm_rate`` at ``false_alarms_per_1000`` after setting
    aside the top ``presumed_odd_percent`` %, or ``percentile``; see
    oddflights.model.threshold); ``combine`` says which one decides (``threshold``).
    """

    raster: RasterSettings
    autoencoder: Autoencoder
    score_fn: str
    percentile: float
    ae_scale: Scale
    turn_scale: Scale
    ae_threshold: float
    combined_threshold: float
    combine: str = "ae_turn"
    n_validation: int = 0
    threshold_method: str = "percentile"
    false_alarms_per_1000: float | None = None
    presumed_odd_percent: float | None = None
    # The third part (format 3): the training days' pixel rarity, its scale and the
    # threshold of the three-part combination; None in detectors fitted without it.
    rarity: PixelRarity | None = None
    rarity_scale: Scale | None = None
    rarity_threshold: float | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.combine not in COMBINATIONS:
            raise ValueError(
                f"unknown score combination {self.combine!r} "
                f"(choose from {', '.join(COMBINATIONS)})"
            )
        if self.score_fn not in SCORE_FNS:
            raise ValueError(f"unknown score function {self.score_fn!r}")
        if self.autoencoder.size != self.raster.size:
            raise ValueError(
                f"weights for {self.autoencoder.size}px images, raster {self.raster.size}px"
            )
        if "rarity" in _PARTS[self.combine] and not self.has_rarity:
            raise ValueError(f"the {self.combine} combination needs the pixel rarity")

    @property
    def has_rarity(self) -> bool:
        """Whether the pixel rarity part was fitted (detectors from format 3 on)."""
        return (
            self.rarity is not None
            and self.rarity_scale is not None
            and self.rarity_threshold is not None
        )

    @property
    def threshold(self) -> float:
        """The threshold of the combination in use."""
        if self.combine == "ae":
            return self.ae_threshold
        if self.combine == "ae_turn":
            return self.combined_threshold
        assert self.rarity_threshold is not None  # __post_init__
        return self.rarity_threshold

    def using(self, combine: str) -> Detector:
        """The same detector deciding with another combination (COMBINATIONS; the ones with
        the rarity only when it was fitted)."""
        return dataclasses.replace(self, combine=combine)

    def reconstruct(self, images: npt.NDArray[Any]) -> F32:
        """The autoencoder's reconstructions of ``images`` (N×size×size×1)."""
        return self.autoencoder.reconstruct(images)

    def reconstruction_scores(self, images: npt.NDArray[Any]) -> FloatArray:
        """Per-image reconstruction error by the model's score function (higher = odder)."""
        x = as_model_input(images)
        return score_images(x, self.reconstruct(x), self.score_fn)

    def combined(self, ae_scores: npt.ArrayLike, turn_cum_deg: npt.ArrayLike) -> FloatArray:
        """The ae_turn score from the parts: the larger of the two scaled parts."""
        return np.maximum(self.ae_scale(ae_scores), self.turn_scale(turn_cum_deg))

    def rarity_scores(self, images: npt.NDArray[Any]) -> FloatArray:
        """Per-image pixel rarity (PixelRarity; ValueError when it was not fitted)."""
        if self.rarity is None:
            raise ValueError("this detector has no pixel rarity (fitted before format 3)")
        return self.rarity(images)

    def scaled_parts(
        self, images: npt.NDArray[Any], turn_cum_deg: npt.ArrayLike | None = None
    ) -> dict[str, FloatArray]:
        """Each part of the combination in use, scaled (``ae``, ``turn``, ``rarity``): the
        score is their maximum, and the largest says which part put a flight there."""
        parts = _PARTS[self.combine]
        out = {"ae": self.ae_scale(self.reconstruction_scores(images))}
        if "turn" in parts:
            if turn_cum_deg is None:
                raise ValueError(
                    f"the {self.combine} combination needs each flight's cumulative turn"
                )
            out["turn"] = self.turn_scale(turn_cum_deg)
        if "rarity" in parts:
            assert self.rarity_scale is not None  # __post_init__
            out["rarity"] = self.rarity_scale(self.rarity_scores(images))
        return out

    def decision_function(
        self, images: npt.NDArray[Any], turn_cum_deg: npt.ArrayLike | None = None
    ) -> FloatArray:
        """The score of each flight (image, cumulative turn in degrees; NaN: unknown)."""
        if self.combine == "ae":
            return self.reconstruction_scores(images)
        return np.max(np.stack(list(self.scaled_parts(images, turn_cum_deg).values())), axis=0)

    def predict(
        self, images: npt.NDArray[Any], turn_cum_deg: npt.ArrayLike | None = None
    ) -> npt.NDArray[np.bool_]:
        """True for each flight whose score is above the threshold."""
        return self.decision_function(images, turn_cum_deg) > self.threshold

    # --- storage ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The detector as the bytes of an ``.npz`` file (arrays plus a JSON header)."""
        header = {
            "format_version": self.format_version,
            "raster": self.raster.to_dict(),
            "score_fn": self.score_fn,
            "percentile": self.percentile,
            "ae_scale": [self.ae_scale.centre, self.ae_scale.span],
            "turn_scale": [self.turn_scale.centre, self.turn_scale.span],
            "ae_threshold": self.ae_threshold,
            "combined_threshold": self.combined_threshold,
            "combine": self.combine,
            "n_validation": self.n_validation,
            "threshold_method": self.threshold_method,
            "false_alarms_per_1000": self.false_alarms_per_1000,
            "presumed_odd_percent": self.presumed_odd_percent,
        }
        arrays: dict[str, npt.NDArray[Any]] = {}
        if self.has_rarity:
            assert self.rarity is not None and self.rarity_scale is not None
            header["rarity"] = {
                "n": self.rarity.n,
                "k": self.rarity.k,
                "dilate": self.rarity.dilate,
                "scale": [self.rarity_scale.centre, self.rarity_scale.span],
                "threshold": self.rarity_threshold,
            }
            arrays["pixel_counts"] = self.rarity.counts
        buf = io.BytesIO()
        ae = self.autoencoder
        arrays.update(
            header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
            encoder_kernel=ae.encoder_kernel,
            encoder_bias=ae.encoder_bias,
            decoder_kernel=ae.decoder_kernel,
            decoder_bias=ae.decoder_bias,
        )
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Detector:
        """Inverse of :meth:`to_bytes`; DetectorError for bytes it cannot read."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                h = json.loads(z["header"].tobytes().decode())
                arrays = {k: np.asarray(z[k], dtype=np.float32) for k in _WEIGHTS}
                counts = np.asarray(z["pixel_counts"], dtype=np.float32) if "rarity" in h else None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DetectorError(f"stored detector is unreadable ({exc})") from None
        if h.get("format_version") not in READABLE_VERSIONS:
            raise DetectorError(
                f"stored detector has format version {h.get('format_version')}, this "
                f"oddflights reads {', '.join(map(str, READABLE_VERSIONS))}: retrain the model"
            )
        fa, odd = h.get("false_alarms_per_1000"), h.get("presumed_odd_percent")
        rarity: dict[str, Any] = {}
        if counts is not None:  # format 3 with the rarity part
            r = h["rarity"]
            rarity = {
                "rarity": PixelRarity(counts, int(r["n"]), int(r["k"]), int(r["dilate"])),
                "rarity_scale": Scale(*map(float, r["scale"])),
                "rarity_threshold": float(r["threshold"]),
            }
        return cls(
            raster=RasterSettings.from_dict(h["raster"]),
            autoencoder=Autoencoder(**arrays),
            score_fn=str(h["score_fn"]),
            percentile=float(h["percentile"]),
            ae_scale=Scale(*map(float, h["ae_scale"])),
            turn_scale=Scale(*map(float, h["turn_scale"])),
            ae_threshold=float(h["ae_threshold"]),
            combined_threshold=float(h["combined_threshold"]),
            combine=str(h["combine"]),
            n_validation=int(h["n_validation"]),
            # version 1 knew the percentile rule only
            threshold_method=str(h.get("threshold_method", "percentile")),
            false_alarms_per_1000=None if fa is None else float(fa),
            presumed_odd_percent=None if odd is None else float(odd),
            **rarity,
        )


def _distinct_rows(flat: F32) -> tuple[F32, npt.NDArray[np.intp]]:
    """The distinct rows of ``flat`` and, for each row, the index of its distinct row."""
    if np.array_equal(flat, flat > 0.5):  # 0/1 images: compare them packed, 8 pixels a byte
        keys = np.packbits(flat > 0.5, axis=1)
    else:
        keys = np.ascontiguousarray(flat)
    raw = keys.view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    return flat[first], inverse.ravel()


_WEIGHTS = ("encoder_kernel", "encoder_bias", "decoder_kernel", "decoder_bias")


def fit_detector(
    autoencoder: Autoencoder,
    raster: RasterSettings,
    val_images: npt.NDArray[Any],
    val_turn_cum_deg: npt.ArrayLike | None,
    *,
    score_fn: str,
    percentile: float,
    combine: str,
    rule: ThresholdRule | None = None,
    train_images: npt.NDArray[Any] | None = None,
    rarity_k: int = RARITY_K,
    rarity_dilate: int = RARITY_DILATE,
) -> Detector:
    """Fit the scales and thresholds on the validation flights (their images and cumulative
    turns; None when unknown, e.g. synthetic images: the turn part then never leads).
    ``rule`` sets the thresholds (default: the ``percentile`` rule). ``train_images``: the
    images the model was fitted on, for the pixel rarity (PixelRarity with ``rarity_k``,
    ``rarity_dilate``; without them the rarity combination is unavailable). ValueError on
    no validation flights."""
    return fit_detector_calibrated(
        autoencoder,
        raster,
        val_images,
        val_turn_cum_deg,
        score_fn=score_fn,
        percentile=percentile,
        combine=combine,
        rule=rule,
        train_images=train_images,
        rarity_k=rarity_k,
        rarity_dilate=rarity_dilate,
    )[0]


def fit_detector_calibrated(
    autoencoder: Autoencoder,
    raster: RasterSettings,
    val_images: npt.NDArray[Any],
    val_turn_cum_deg: npt.ArrayLike | None,
    *,
    score_fn: str,
    percentile: float,
    combine: str,
    rule: ThresholdRule | None = None,
    known_normal: npt.ArrayLike | None = None,
    train_images: npt.NDArray[Any] | None = None,
    rarity_k: int = RARITY_K,
    rarity_dilate: int = RARITY_DILATE,
) -> tuple[Detector, Calibration]:
    """:func:`fit_detector`, and the calibration of the threshold that decides (the
    combination in use). ``known_normal``: which validation flights are labelled normal
    (oddflights.labels): the threshold rule counts them as normal, never as presumed odd."""
    rule = rule or ThresholdRule(method="percentile", percentile=percentile)
    ae = score_images(as_model_input(val_images), autoencoder.reconstruct(val_images), score_fn)
    if ae.size == 0:
        raise ValueError("cannot calibrate a detector on no validation flights")
    turn = (
        np.full(ae.size, np.nan)
        if val_turn_cum_deg is None
        else np.asarray(val_turn_cum_deg, dtype=np.float64)
    )
    ae_scale, turn_scale = Scale.fit(ae), Scale.fit(turn)
    both = np.maximum(ae_scale(ae), turn_scale(turn))
    ae_cal = calibrate(ae, rule, score_fn, known_normal)
    both_cal = calibrate(both, rule, score_fn, known_normal)
    rarity: dict[str, Any] = {}
    three_cal = None
    if train_images is not None and len(train_images):
        pixels = PixelRarity.fit(train_images, rarity_k, rarity_dilate)
        val_rarity = pixels(val_images)
        rarity_scale = Scale.fit(val_rarity)
        three = np.maximum(both, rarity_scale(val_rarity))
        three_cal = calibrate(three, rule, score_fn, known_normal)
        rarity = {
            "rarity": pixels,
            "rarity_scale": rarity_scale,
            "rarity_threshold": three_cal.threshold,
        }
    elif "rarity" in _PARTS[combine]:
        raise ValueError(f"the {combine} combination needs the training images")
    fa_rule = rule.method == "false_alarm_rate"
    detector = Detector(
        raster=raster,
        autoencoder=autoencoder,
        score_fn=score_fn,
        percentile=float(rule.percentile),
        ae_scale=ae_scale,
        turn_scale=turn_scale,
        ae_threshold=ae_cal.threshold,
        combined_threshold=both_cal.threshold,
        combine=combine,
        n_validation=int(ae.size),
        threshold_method=rule.method,
        false_alarms_per_1000=float(rule.false_alarms_per_1000) if fa_rule else None,
        presumed_odd_percent=float(rule.presumed_odd_percent) if fa_rule else None,
        **rarity,
    )
    deciding = {"ae": ae_cal, "ae_turn": both_cal, "ae_turn_rarity": three_cal}[combine]
    assert deciding is not None  # the rarity combination raised above without its images
    return detector, deciding
