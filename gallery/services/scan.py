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
from django.utils.translation import gettext as _
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
# The model's input size (NudeNet 3.4's bundled 320n model).
MODEL_SIZE = 320
# NudeNet's own thresholds: a box is kept from this score, and overlapping boxes (IoU above
# NMS_OVERLAP) are merged from NMS_SCORE; the same numbers keep the same detections.
MIN_SCORE = 0.2
NMS_SCORE = 0.25
NMS_OVERLAP = 0.45


class Detector(Protocol):
    def scores(self, image: Image.Image) -> dict[str, float]: ...


class NudeNetDetector:
    """NudeNet's detector: per label, the highest score among its detections.

    The same model, input and thresholds as NudeNet's `NudeDetector.detect()`, with the
    ingest's costs taken out (tests/test_scan.py checks both give the same detections): the
    decoded Pillow image is used as it is (no file read, no colour round trip), the model's
    output is filtered with numpy rather than a Python loop over its 2,100 candidate boxes,
    and the session runs on one thread with the input's shape fixed.
    """

    def __init__(self) -> None:
        import nudenet
        import onnxruntime

        model = os.path.join(os.path.dirname(nudenet.__file__), "320n.onnx")
        options = onnxruntime.SessionOptions()
        # One thread: a worker scans one image at a time, and several workers share a few
        # cores; onnxruntime's default (a thread per core, spinning while it waits) was
        # slower on a busy 2-core machine (docs/PERFORMANCE.md).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # Every input is 1x3x320x320; saying so lets onnxruntime fix the graph's shapes at
        # load (no gain that showed through the noise, at no cost).
        for name, size in (("batch", 1), ("height", MODEL_SIZE), ("width", MODEL_SIZE)):
            options.add_free_dimension_override_by_name(name, size)
        # CPU only, whatever else onnxruntime offers (NudeDetector would not let us choose).
        self._session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        # The model's classes, in its output's order, as NudeNet names them.
        self._labels: list[str] = list(vars(nudenet.nudenet)["__labels"])
        # One session, used by one worker thread at a time: onnxruntime sessions may be
        # shared, but a web process making synchronous API images runs several at once.
        self._lock = threading.Lock()

    def scores(self, image: Image.Image) -> dict[str, float]:
        best: dict[str, float] = {}
        for label, score, _box in self.detections(image):
            best[label] = max(best.get(label, 0.0), round(score, 4))
        return best

    def detections(self, image: Image.Image) -> list[tuple[str, float, tuple[int, ...]]]:
        """(label, score, box as x, y, width, height in the image's pixels), as NudeNet's
        detect() finds them."""
        blob = model_input(image)
        with self._lock:
            output = self._session.run(None, {self._input: blob})[0]
        return found_in(output, image.size, self._labels)


def model_input(image: Image.Image):
    """The model's 1x3x320x320 float input: the image padded to a square at its right and
    bottom, shrunk bilinearly, RGB in 0..1. NudeNet's preparation, minus its conversions."""
    import cv2
    import numpy as np

    # The model reads RGB; NudeNet drops alpha too (it converts RGBA to BGR, then back).
    pixels = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    height, width = pixels.shape[:2]
    side = max(width, height)
    if width != height:
        pixels = cv2.copyMakeBorder(
            pixels, 0, side - height, 0, side - width, cv2.BORDER_CONSTANT, value=0
        )
    # One OpenCV call resizes, scales to 0..1 and reorders to channels first, as NudeNet's.
    return cv2.dnn.blobFromImage(pixels, 1 / 255.0, (MODEL_SIZE, MODEL_SIZE), swapRB=False)


def found_in(output, size: tuple[int, int], labels: list[str]) -> list[tuple[str, float, tuple]]:
    """The detections in the model's raw output (1 x (4 + classes) x candidates): NudeNet's
    post-processing (score cut, boxes in the image's pixels, clipped, then NMS), vectorised.
    The arithmetic stays in float32, in NudeNet's order, so the boxes NMS compares are the
    same numbers."""
    import cv2
    import numpy as np

    rows = np.squeeze(output, axis=0).T  # candidates x (cx, cy, w, h, class scores...)
    classes = rows[:, 4:]
    top = classes.max(axis=1)
    keep = np.flatnonzero(top >= MIN_SCORE)
    if keep.size == 0:
        return []
    width, height = size
    side = max(width, height)  # the padded square the model saw
    kept = rows[keep]
    cx, cy, w, h = kept[:, 0], kept[:, 1], kept[:, 2], kept[:, 3]
    x = (cx - w / 2) * side / MODEL_SIZE
    y = (cy - h / 2) * side / MODEL_SIZE
    w = w * side / MODEL_SIZE
    h = h * side / MODEL_SIZE
    x = np.maximum(0, np.minimum(x, width))
    y = np.maximum(0, np.minimum(y, height))
    w = np.minimum(w, width - x)
    h = np.minimum(h, height - y)
    boxes = np.stack([x, y, w, h], axis=1)
    scores = top[keep]
    ids = classes[keep].argmax(axis=1)
    chosen = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), NMS_SCORE, NMS_OVERLAP)
    return [
        (labels[ids[i]], float(scores[i]), tuple(int(v) for v in boxes[i]))
        for i in np.asarray(chosen, dtype=int).reshape(-1)
    ]


def installed() -> bool:
    """Whether the `scan` extra is installed."""
    return importlib.util.find_spec("nudenet") is not None


def state() -> str:
    """What the admin says: "on (NudeNet)", "off: ..." in plain words."""
    choice = settings.GALLERY_SCAN
    if choice == "off":
        return _("off: turned off with GALLERY_SCAN=off")
    if choice == "auto":
        if installed():
            return _("on: NudeNet (CPU), scores every new image")
        return _("off: the scan extra is not installed (pip install '.[scan]')")
    return _("on: %(detector)s") % {"detector": choice}


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
