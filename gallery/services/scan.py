"""The image scan at ingest: an optional extra (`pip install .[scan]`, nudenet, which ships
its own ONNX model and runs on the CPU; nothing is downloaded at run time).

The worker asks `scan(pixels)` before it commits a new image; what to do with the scores
(hold, blur) is moderation's policy, not this module's. Without the extra, or with
GALLERY_SCAN=off, `detector()` is None and images are stored as before.

A detector is anything with `scores(image) -> {label: score in 0..1}`. GALLERY_SCAN may name
one by dotted path (a factory or class called with no arguments): the tests' stand-ins.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from PIL import Image

logger = logging.getLogger(__name__)

# NudeNet's labels that count towards the risk score; the others (faces, covered parts,
# feet) are recorded but do not make an image risky.
RISK_LABELS = frozenset(
    {
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
# The model's input size: the image is shrunk to it here, once, rather than by OpenCV.
MODEL_SIZE = 320


class Detector(Protocol):
    def scores(self, image: Image.Image) -> dict[str, float]: ...


class NudeNetDetector:
    """NudeNet's detector: per label, the highest score among its detections."""

    def __init__(self) -> None:
        import nudenet
        import onnxruntime

        # CPU only, whatever else onnxruntime offers: NudeDetector ignores its `providers`
        # argument, so its bundled model (where nudenet itself finds it) is opened here.
        model = os.path.join(os.path.dirname(nudenet.__file__), "320n.onnx")
        session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
        self._model = nudenet.NudeDetector(model_path=model)
        self._model.onnx_session = session
        # One session, used by one worker thread at a time: onnxruntime sessions may be
        # shared, but a web process making synchronous API images runs several at once.
        self._lock = threading.Lock()

    def scores(self, image: Image.Image) -> dict[str, float]:
        import numpy as np

        square = Image.new("RGBA", (MODEL_SIZE, MODEL_SIZE), (0, 0, 0, 255))
        small = image.convert("RGBA")
        small.thumbnail((MODEL_SIZE, MODEL_SIZE), Image.Resampling.BILINEAR)
        square.paste(small, (0, 0))
        with self._lock:
            found = self._model.detect(np.asarray(square))
        best: dict[str, float] = {}
        for detection in found:
            label, score = str(detection["class"]), float(detection["score"])
            best[label] = max(best.get(label, 0.0), round(score, 4))
        return best


def installed() -> bool:
    """Whether the `scan` extra is installed."""
    return importlib.util.find_spec("nudenet") is not None


def state() -> str:
    """What the admin says: "on (NudeNet)", "off: ..." in plain words."""
    choice = settings.GALLERY_SCAN
    if choice == "off":
        return "off: turned off with GALLERY_SCAN=off"
    if choice == "auto":
        if installed():
            return "on: NudeNet (CPU), scores every new image"
        return "off: the scan extra is not installed (pip install '.[scan]')"
    return f"on: {choice}"


@functools.cache
def _load(choice: str) -> Detector | None:
    if choice == "off" or (choice == "auto" and not installed()):
        return None
    if choice == "auto":
        return NudeNetDetector()
    return import_string(choice)()


def detector() -> Detector | None:
    """The configured detector, loaded once per process; None when the scan is off."""
    return _load(settings.GALLERY_SCAN)


@dataclass(frozen=True)
class ScanResult:
    scores: dict[str, float] = field(default_factory=dict)
    # The highest score among RISK_LABELS (0 when none was found); None when it failed.
    risk: float | None = None
    # Why there are no scores: the detector crashed or took too long.
    error: str = ""
    seconds: float = 0.0


def risk_of(scores: dict[str, float]) -> float:
    return max((s for label, s in scores.items() if label in RISK_LABELS), default=0.0)


def scan(
    pixels: Image.Image, *, using: Detector | None = None, timeout: float | None = None
) -> ScanResult | None:
    """Score the image, or None when the scan is off. Never raises: a crash or a timeout
    comes back as `error`, and the caller holds the image rather than lose it."""
    try:
        found = using or detector()
    except Exception as exc:  # a broken install must not lose images either
        logger.exception("Image scan: the detector could not be loaded")
        return ScanResult(error=f"the detector could not be loaded ({type(exc).__name__})")
    if found is None:
        return None
    limit = settings.GALLERY_SCAN_TIMEOUT if timeout is None else timeout
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["scores"] = found.scores(pixels)
        except Exception as exc:
            outcome["error"] = exc

    started = time.perf_counter()
    # A thread of its own, so that a detector stuck in native code cannot stall the job:
    # it is left behind (a daemon) and the image is held.
    thread = threading.Thread(target=work, name="image-scan", daemon=True)
    thread.start()
    thread.join(limit)
    seconds = time.perf_counter() - started
    if thread.is_alive():
        logger.error("Image scan: no answer after %.1f s", limit)
        return ScanResult(error=f"the scan took longer than {limit:g} s", seconds=seconds)
    if "error" in outcome:
        failure = outcome["error"]
        logger.error("Image scan failed: %r", failure)
        return ScanResult(error=f"the scan failed ({type(failure).__name__})", seconds=seconds)
    raw = outcome.get("scores")
    if not isinstance(raw, dict):
        return ScanResult(error="the scan gave no scores", seconds=seconds)
    scores = {str(k): float(v) for k, v in raw.items()}
    return ScanResult(scores=scores, risk=risk_of(scores), seconds=seconds)
