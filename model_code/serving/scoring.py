"""What the torch and the ONNX Runtime scoring paths share, importing neither torch nor onnxruntime.

The ONNX serving image has no torch: everything its handlers import before the model loads lives in
modules like this one, which ``predictor`` (the torch path) re-exports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model_code.presets import get_preset
from model_code.serving.payload import Item

SEQSERVE_FILE = "seqserve.json"
RUNTIMES = ("torch", "onnx")


def torch_threads(environ: Mapping[str, str]) -> int:
    """``SEQSERVE_TORCH_THREADS`` (default 1): intra-op threads per worker process.

    The BYOC server runs one worker per CPU, so one thread each uses every CPU without oversubscribing
    it. Measured in one process on this 2-CPU machine, idle: a second thread left single-sequence
    requests as fast as one (about 2.6 ms each) and made 32-sequence requests 15-40 % faster; on a
    shared CPU, threads spinning against other work made single requests several times slower. A lone
    worker on a dedicated machine may set it to the CPU count.
    """
    raw = environ.get("SEQSERVE_TORCH_THREADS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"SEQSERVE_TORCH_THREADS must be a positive integer, got {raw!r}")
    return int(raw)


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """Per input, the probability of each label (in ``labels`` order)."""

    scores: tuple[tuple[float, ...], ...]
    labels: tuple[str, ...]
    top_k: int | None


def characters(item: Item) -> int:
    """An input's length in characters (pairs: both texts), the key inputs are ordered by."""
    return len(item) if isinstance(item, str) else len(item[0]) + len(item[1])


class ModelDirError(ValueError):
    """The folder is not a trained model directory; the message says which file is wrong."""


def model_settings(model_dir: str | Path) -> dict:
    """The model dir's seqserve.json, checked for the fields serving and evaluation read."""
    path = Path(model_dir) / SEQSERVE_FILE
    try:
        settings = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelDirError(f"{path} is missing: {model_dir} is not a trained model directory") from None
    except json.JSONDecodeError as error:
        raise ModelDirError(f"{path}: not valid JSON ({error.msg})") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("preset"), str):
        raise ModelDirError(f"{path}: has no preset name")
    if not isinstance(settings.get("labels"), list) or not settings["labels"]:
        raise ModelDirError(f"{path}: has no label list")
    try:
        get_preset(settings["preset"])
    except ValueError as error:
        raise ModelDirError(f"{path}: {error}") from None
    return settings


def serving_runtime(environ: Mapping[str, str]) -> str:
    """``torch`` or ``onnx``: ``SEQSERVE_RUNTIME`` when set, else what the image was built as
    (``SEQSERVE_IMAGE_VARIANT``, set by the Dockerfile: ``cpu-onnx`` serves with ONNX Runtime)."""
    raw = environ.get("SEQSERVE_RUNTIME")
    if raw is None:
        return "onnx" if environ.get("SEQSERVE_IMAGE_VARIANT", "").endswith("-onnx") else "torch"
    if raw not in RUNTIMES:
        raise ValueError(f"SEQSERVE_RUNTIME must be one of {', '.join(RUNTIMES)}, got {raw!r}")
    return raw
