"""Export a trained model directory to ONNX (``model.onnx`` beside the safetensors), checked against torch.

    python -m model_code.package --model-dir DIR --output model.tar.gz --format onnx

Exporter, per architecture (both are ``torch.onnx.export``; measured with torch 2.13 on this 2-CPU machine):

* Hugging Face backbones (BERT, ALBERT, DistilBERT, ProtBert): the TorchScript-based exporter
  (``dynamo=False``, opset 17). It needs the ``onnx`` package only and exported the BERT stand-in in
  2 s on a shared CPU, where the ``torch.export``-based one (``dynamo=True``, torch's default since
  2.9, which also needs onnxscript) took 39 s for the same graph and the same scores.
* The k-mer transformer (``nn.MultiheadAttention`` layers): ``dynamo=True``, opset 18. The TorchScript
  exporter folds the traced sequence length into the attention reshapes there, so its graph failed on
  any other length. ``torch.export`` keeps the sequence axis symbolic; the model skips its
  data-dependent position-table check while being exported (``torch.compiler.is_exporting()``), and
  the ONNX graph fails on an out-of-range position index as the torch model fails on it, with an error.

Batch and sequence axes are dynamic (``composition`` has a batch axis only). After export the parity
check scores probe inputs (lengths from a few tokens to past the preset's window, pairs for pair
presets) with the torch path and with ONNX Runtime, all in one padded batch and each alone: every
probability must agree within ``PARITY_TOLERANCE``, and ONNX Runtime's scores of an input alone and in
the batch likewise. The result goes into ``seqserve.json`` under ``onnx``; serving uses the ONNX model
only when ``onnx.parity.passed`` is true, so the torch path stays the default until then.
"""

from __future__ import annotations

import inspect
import json
import logging
import random
import re
import warnings
from pathlib import Path

import onnxruntime
import torch
from torch.export import Dim

from model_code.presets import AMINO_ACIDS, Preset, get_preset
from model_code.serving.onnx_predictor import ONNX_FILE, load_onnx_predictor
from model_code.serving.payload import Item, Request
from model_code.serving.predictor import Predictor, load_predictor
from model_code.serving.scoring import SEQSERVE_FILE, model_settings
from model_code.serving.validation import Limits

logger = logging.getLogger("seqserve.onnx")

OPSET = 17
# The torch.export-based exporter writes opset 18 at least.
DYNAMO_OPSET = 18
PARITY_TOLERANCE = 1e-4
OUTPUT = "logits"
# Input names whose only dynamic axis is the batch (one fixed-length vector per input).
_BATCH_ONLY = frozenset({"composition", "statistics"})
_OPERATOR = re.compile(r"\b((?:aten|prim|onnx|quantized|torchvision)(?:::|\.)\w+)")
_WORDS = tuple(
    [
        "the",
        "a",
        "man",
        "woman",
        "child",
        "dog",
        "is",
        "was",
        "playing",
        "sitting",
        "running",
        "in",
        "on",
        "at",
        "park",
        "street",
        "beach",
        "music",
        "guitar",
        "patient",
        "history",
        "of",
        "chest",
        "pain",
        "normal",
        "exam",
        "blood",
        "pressure",
        "acute",
        "chronic",
        "left",
        "right",
        "heart",
        "surgery",
    ]
)


class OnnxExportError(RuntimeError):
    """The export failed; the message names the preset and the operator that failed."""


def failing_operator(error: BaseException) -> str | None:
    """The operator an exporter error names (``aten::i0``), searching the error and its causes."""
    seen: BaseException | None = error
    while seen is not None:
        match = _OPERATOR.search(str(seen))
        if match:
            return match.group(1)
        seen = seen.__cause__ or seen.__context__
    return None


def probe_inputs(preset: Preset, *, count: int = 6, seed: int = 0) -> list[Item]:
    """Deterministic inputs the preset accepts, from a few tokens long to beyond its window."""
    rng = random.Random(seed)
    lengths = [3, 12, 40, 4 * preset.max_length, 90, 25][:count]

    def text(length: int) -> str:
        if preset.alphabet is None:
            return " ".join(rng.choice(_WORDS) for _ in range(max(1, length // 4)))
        letters = "ACGT" if set("ACGT") <= set(preset.alphabet) else AMINO_ACIDS
        return "".join(rng.choice(letters) for _ in range(length))

    if preset.pair:
        return [(text(length), text(max(3, length // 2))) for length in lengths]
    return [text(length) for length in lengths]


def _scores(predictor, items: list[Item]) -> list[tuple[float, ...]]:
    names = tuple(f"inputs[{index}]" for index in range(len(items)))
    request = Request(inputs=tuple(items), names=names, top_k=None, content_type="application/json")
    return list(predictor.predict(request).scores)


def _max_difference(one: list[tuple[float, ...]], other: list[tuple[float, ...]]) -> float:
    pairs = zip(one, other, strict=True)
    return max(abs(a - b) for row, row_other in pairs for a, b in zip(row, row_other, strict=True))


def uses_torch_attention(model: torch.nn.Module) -> bool:
    """Whether the model holds ``nn.MultiheadAttention`` (the k-mer transformer's encoder layers)."""
    return any(isinstance(module, torch.nn.MultiheadAttention) for module in model.modules())


def export_model(predictor: Predictor, *, preset_name: str, path: Path) -> tuple[list[str], str]:
    """Write ``predictor``'s model to ``path`` as ONNX; the graph's input names (in forward's order) and
    the exporter used (see the module docstring for which and why)."""
    sample = predictor._encode(probe_inputs(get_preset(preset_name), count=2))
    parameters = inspect.signature(predictor.model.forward).parameters
    names = [name for name in parameters if name in sample]
    kwargs = {name: sample[name] for name in names}
    dynamo = uses_torch_attention(predictor.model)
    partial = path.with_name(path.name + ".partial")
    # PyTorch's fused encoder-layer fast path is not traceable; load_predictor turned it off already.
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(), torch.inference_mode(not dynamo):
            # Tracer warnings say value checks are baked in, which is what we want (module docstring).
            warnings.simplefilter("ignore")
            common = {"kwargs": kwargs, "input_names": names, "output_names": [OUTPUT]}
            if dynamo:
                batch, sequence = Dim("batch", min=1, max=4096), Dim("sequence", min=1, max=65536)
                shapes = {
                    name: {0: batch} if name in _BATCH_ONLY else {0: batch, 1: sequence} for name in names
                }
                torch.onnx.export(
                    predictor.model, (), str(partial), **common, dynamic_shapes=shapes,
                    opset_version=DYNAMO_OPSET, dynamo=True, external_data=False, verbose=False,
                )  # fmt: skip
            else:
                axes = {
                    name: {0: "batch"} if name in _BATCH_ONLY else {0: "batch", 1: "sequence"}
                    for name in names
                }
                torch.onnx.export(
                    predictor.model, (), str(partial), **common, dynamic_axes={**axes, OUTPUT: {0: "batch"}},
                    opset_version=OPSET, dynamo=False,
                )  # fmt: skip
    except Exception as error:
        partial.unlink(missing_ok=True)
        operator = failing_operator(error) or "an operator the exporter did not name"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OnnxExportError(
            f"preset {preset_name!r}: ONNX export failed at operator {operator}: {first_line}"
        ) from error
    partial.replace(path)
    return names, f"torch.onnx.export(dynamo={dynamo})"


def check_parity(
    torch_predictor: Predictor, onnx_predictor, *, items: list[Item], tolerance: float = PARITY_TOLERANCE
) -> dict[str, object]:
    """Both paths on ``items`` in one batch and each alone; the largest probability differences."""
    torch_batch = _scores(torch_predictor, items)
    onnx_batch = _scores(onnx_predictor, items)
    torch_alone = [row for item in items for row in _scores(torch_predictor, [item])]
    onnx_alone = [row for item in items for row in _scores(onnx_predictor, [item])]
    versus_torch = max(_max_difference(onnx_batch, torch_batch), _max_difference(onnx_alone, torch_alone))
    alone_versus_batch = _max_difference(onnx_alone, onnx_batch)
    return {
        "passed": versus_torch <= tolerance and alone_versus_batch <= tolerance,
        "tolerance": tolerance,
        "max_difference_vs_torch": versus_torch,
        "max_difference_alone_vs_batch": alone_versus_batch,
        "inputs": len(items),
    }


def export_onnx(model_dir: str | Path, *, tolerance: float = PARITY_TOLERANCE) -> dict[str, object]:
    """Export, check parity, record the result in ``seqserve.json`` (``onnx``) and return that record.

    An export failure is recorded too (so serving keeps to torch and says why) and raised as
    :class:`OnnxExportError`; a failed parity check is recorded and returned, not raised.
    """
    model_dir = Path(model_dir)
    settings = model_settings(model_dir)
    preset = get_preset(settings["preset"])
    items = probe_inputs(preset)
    longest = max(len(item) if isinstance(item, str) else len(item[0]) + len(item[1]) for item in items)
    limits = Limits(max_inputs=len(items), max_chars=max(longest, 1), micro_batch=len(items))
    torch_predictor = load_predictor(model_dir, limits=limits, device=torch.device("cpu"))
    record: dict[str, object] = {
        "file": ONNX_FILE,
        "torch_version": torch.__version__,
        "onnxruntime_version": onnxruntime.__version__,
    }
    try:
        names, exporter = export_model(torch_predictor, preset_name=preset.name, path=model_dir / ONNX_FILE)
    except OnnxExportError as error:
        _record(model_dir, {**record, "file": None, "error": str(error)})
        raise
    record.update(inputs=names, exporter=exporter)
    onnx_predictor = load_onnx_predictor(model_dir, limits=limits)
    record["parity"] = check_parity(torch_predictor, onnx_predictor, items=items, tolerance=tolerance)
    _record(model_dir, record)
    return record


def _record(model_dir: Path, record: dict[str, object]) -> None:
    path = model_dir / SEQSERVE_FILE
    settings = json.loads(path.read_text())
    settings["onnx"] = record
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(settings, indent=2) + "\n")
    partial.replace(path)


def export_after_training(model_dir: Path) -> dict[str, object]:
    """Training's hook for a model deployed with ``serving.runtime`` onnx: export and check, and fail the
    run when either fails, naming why. The cpu-onnx image has no torch to fall back on, so a model
    without a passing ONNX export must not reach it; the record in seqserve.json stays for inspection."""
    record = export_onnx(model_dir)
    parity = record["parity"]
    if not parity["passed"]:
        preset = model_settings(model_dir)["preset"]
        raise OnnxExportError(
            f"preset {preset!r}: the ONNX model's probabilities differ from torch's by up to "
            f"{max(parity['max_difference_vs_torch'], parity['max_difference_alone_vs_batch']):.2e}, over "
            f"the {parity['tolerance']:g} tolerance; deploy this model with serving.runtime torch"
        )
    logger.info("ONNX export of %s passed its parity check: %s", model_dir, parity)
    return record
