"""A trained model directory served by ONNX Runtime, with no torch in the process.

Same contract as :mod:`model_code.predictor` (``predict(Request) -> Prediction``): the same tokenizer
files, read without transformers (:mod:`model_code.serving_tokenizers`), the same length ordering and
micro-batches, the softmax in float32. The tokenizers return numpy arrays, which feed the session
directly. The model is ``model.onnx`` beside the safetensors weights, written by
:mod:`model_code.onnx_export`, and is served only when that export's parity check passed
(``seqserve.json`` ``onnx.parity.passed``); otherwise the torch path serves.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime

from model_code.presets import get_preset
from model_code.serving.payload import Request
from model_code.serving.scoring import ModelDirError, Prediction, characters, model_settings
from model_code.serving.validation import InputSpec, Limits, check_request
from model_code.tokenization.serving import SequenceEncoder, load_serving_tokenizer

logger = logging.getLogger("seqserve.onnx")

ONNX_FILE = "model.onnx"
# ONNX tensor element types of the graph inputs our models take, as numpy types.
_INPUT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32}


@dataclass(frozen=True, kw_only=True)
class OnnxPredictor:
    tokenizer: SequenceEncoder
    session: onnxruntime.InferenceSession
    input_types: dict[str, type]
    labels: tuple[str, ...]
    spec: InputSpec
    max_length: int
    limits: Limits

    def predict(self, request: Request) -> Prediction:
        check_request(request, spec=self.spec, limits=self.limits)
        items = tuple(map(self.spec.normalise, request.inputs))
        order = sorted(range(len(items)), key=lambda i: characters(items[i]))
        probabilities = np.empty((len(items), len(self.labels)), dtype=np.float32)
        step = self.limits.micro_batch
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            batch = self.tokenizer([items[i] for i in chunk], max_length=self.max_length)
            feed = {name: np.asarray(batch[name], dtype=kind) for name, kind in self.input_types.items()}
            (logits,) = self.session.run(["logits"], feed)
            probabilities[chunk] = softmax(logits.astype(np.float32))
        scores = tuple(map(tuple, probabilities.tolist()))
        return Prediction(scores=scores, labels=self.labels, top_k=request.top_k)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponent = np.exp(shifted)
    return exponent / exponent.sum(axis=-1, keepdims=True)


def onnx_unusable_reason(model_dir: str | Path) -> str | None:
    """Why the model dir's ONNX model must not be served (None: it may): absent, or its parity failed."""
    model_dir = Path(model_dir)
    record = model_settings(model_dir).get("onnx")
    if not isinstance(record, dict):
        return f"{model_dir} has no ONNX export (python -m model_code.package --format onnx writes one)"
    if record.get("error"):
        return f"{model_dir}: its ONNX export failed: {record['error']}"
    parity = record.get("parity")
    if not isinstance(parity, dict) or parity.get("passed") is not True:
        return f"{model_dir}: its ONNX model did not pass the parity check against torch ({parity})"
    if not (model_dir / record.get("file", ONNX_FILE)).is_file():
        return f"{model_dir}: {record.get('file', ONNX_FILE)} is missing"
    return None


def session_options(threads: int) -> onnxruntime.SessionOptions:
    """One intra-op thread pool of ``threads`` (as SEQSERVE_TORCH_THREADS sets torch's), no inter-op pool:
    the server runs one inference at a time per worker, with one worker per CPU."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return options


def load_onnx_predictor(model_dir: str | Path, *, limits: Limits, threads: int = 1) -> OnnxPredictor:
    """Load the model dir's ONNX model and tokenizer from its local files (no torch)."""
    model_dir = Path(model_dir)
    settings = model_settings(model_dir)
    preset = get_preset(settings["preset"])
    record = settings.get("onnx") if isinstance(settings.get("onnx"), dict) else {}
    path = model_dir / record.get("file", ONNX_FILE)
    if not path.is_file():
        raise ModelDirError(f"{path} is missing: export it with python -m model_code.package --format onnx")
    tokenizer = load_serving_tokenizer(model_dir)
    session = onnxruntime.InferenceSession(
        str(path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
    )
    input_types = {}
    for graph_input in session.get_inputs():
        if graph_input.type not in _INPUT_TYPES:
            raise ModelDirError(f"{path}: input {graph_input.name} has unsupported type {graph_input.type}")
        input_types[graph_input.name] = _INPUT_TYPES[graph_input.type]
    config = json.loads((model_dir / "config.json").read_text())
    id2label = {int(index): label for index, label in config["id2label"].items()}
    return OnnxPredictor(
        tokenizer=tokenizer,
        session=session,
        input_types=input_types,
        labels=tuple(id2label[i] for i in range(len(id2label))),
        spec=InputSpec.of(preset),
        max_length=_max_length(settings, model_dir),
        limits=limits,
    )


def load_onnx_predictor_if_usable(
    model_dir: str | Path, *, limits: Limits, threads: int = 1
) -> OnnxPredictor | None:
    """The ONNX predictor when the model's export passed parity; None to serve with torch, which is
    logged; a :class:`ModelDirError` naming the reason when this process has no torch to fall back on."""
    reason = onnx_unusable_reason(model_dir)
    if reason is None:
        return load_onnx_predictor(model_dir, limits=limits, threads=threads)
    if importlib.util.find_spec("torch") is None:
        raise ModelDirError(
            f"{reason}; this image serves ONNX models only (no torch): export the model with "
            "python -m model_code.package --format onnx, or deploy it with serving.runtime torch"
        )
    logger.warning("serving with torch: %s", reason)
    return None


def _max_length(settings: dict, model_dir: Path) -> int:
    """seqserve.json's max_length, else the tokenizer's own limit (as the torch path falls back to)."""
    value = settings.get("max_length")
    if value is None:
        config = json.loads((model_dir / "tokenizer_config.json").read_text())
        value = config.get("model_max_length", config.get("max_length"))
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ModelDirError(f"{model_dir}: max_length must be a positive integer, got {value!r}")
    return value
