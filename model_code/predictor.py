"""A trained model directory loaded for serving, and the scores it gives a batch of inputs.

Scores must not depend on which other inputs share a request. Each input is encoded on its own and
padded to a length fixed by its own token count (rounded up to ``PAD_MULTIPLE``); inputs are then run
in micro-batches of that one padded length, so the only thing a neighbour changes is the batch size.

The batch size still reaches the last bit in two kinds of layer on the CPU, where kernels are picked by
shape: a linear layer over one vector per input (a pooler, the classifier, the k-mer model's composition
branch: a matrix product with one row per input) and a 1-D convolution (whose algorithm depends on the
batch). Those run input by input (:class:`RowwiseLinear`, :class:`RowwiseConv1d`); the attention and
feed-forward layers over tokens, where most of the cost is, keep their batched kernels, whose rows do
not depend on each other. float32 throughout: float64 gives the same guarantee at twice the cost.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

# Importing these registers the custom tokenizer and model classes with the Auto factories.
from model_code import modeling_kmer, tokenization_nucleotide, tokenization_protein  # noqa: F401
from model_code.payload import Item, Request
from model_code.presets import get_preset
from model_code.validation import InputSpec, Limits, check_request

PAD_MULTIPLE = 8
SEQSERVE_FILE = "seqserve.json"


def torch_threads(environ: Mapping[str, str]) -> int:
    """``SEQSERVE_TORCH_THREADS`` (default 1): intra-op threads per worker process.

    One thread per worker and one worker per CPU: on a shared CPU, several intra-op threads per
    process spin against each other: single requests ran about nine times slower with two here.
    """
    raw = environ.get("SEQSERVE_TORCH_THREADS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"SEQSERVE_TORCH_THREADS must be a positive integer, got {raw!r}")
    return int(raw)


class RowwiseLinear(torch.nn.Linear):
    """``nn.Linear`` whose output for one row of a 2-D input does not depend on the other rows."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2:
            return super().forward(features)
        return torch.cat([super(RowwiseLinear, self).forward(row) for row in features.split(1)])


class RowwiseConv1d(torch.nn.Conv1d):
    """``nn.Conv1d`` run one input at a time, so its algorithm (picked by shape) ignores the batch size."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 3:
            return super().forward(features)
        return torch.cat([super(RowwiseConv1d, self).forward(one) for one in features.split(1)])


_ROWWISE: dict[type[torch.nn.Module], type[torch.nn.Module]] = {
    torch.nn.Linear: RowwiseLinear,
    torch.nn.Conv1d: RowwiseConv1d,
}


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """Per input, the probability of each label (in ``labels`` order)."""

    scores: tuple[tuple[float, ...], ...]
    labels: tuple[str, ...]
    top_k: int | None


@dataclass(frozen=True, kw_only=True)
class Predictor:
    tokenizer: object
    model: torch.nn.Module
    device: torch.device
    labels: tuple[str, ...]
    spec: InputSpec
    max_length: int
    limits: Limits

    def predict(self, request: Request) -> Prediction:
        check_request(request, spec=self.spec, limits=self.limits)
        encoded = [self._encode(item) for item in request.inputs]
        buckets: dict[int, list[int]] = defaultdict(list)
        for index, features in enumerate(encoded):
            length = len(features["input_ids"])
            buckets[-(-length // PAD_MULTIPLE) * PAD_MULTIPLE].append(index)
        probabilities: list[torch.Tensor | None] = [None] * len(encoded)
        step = self.limits.micro_batch
        with torch.no_grad():
            for indices in buckets.values():
                for start in range(0, len(indices), step):
                    chunk = indices[start : start + step]
                    batch = self.tokenizer.pad(
                        [encoded[i] for i in chunk], pad_to_multiple_of=PAD_MULTIPLE, return_tensors="pt"
                    )
                    logits = self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits
                    for i, row in zip(chunk, torch.softmax(logits.float(), dim=-1).cpu(), strict=True):
                        probabilities[i] = row
        scores = tuple(tuple(row.tolist()) for row in probabilities)
        return Prediction(scores=scores, labels=self.labels, top_k=request.top_k)

    def _encode(self, item: Item) -> dict[str, list]:
        text, pair = item if isinstance(item, tuple) else (item, None)
        return dict(self.tokenizer(text, pair, truncation=True, max_length=self.max_length))


def load_predictor(model_dir: str | Path, *, limits: Limits, device: torch.device | None = None) -> Predictor:
    """Load a trained model directory from its local files only (safetensors weights)."""
    model_dir = Path(model_dir)
    settings_path = model_dir / SEQSERVE_FILE
    try:
        settings = json.loads(settings_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{settings_path} is missing: {model_dir} is not a trained model dir"
        ) from None
    preset = get_preset(settings["preset"])
    alphabet = frozenset(preset.alphabet) if preset.alphabet is not None else None
    spec = InputSpec(alphabet=alphabet, pair=preset.pair)
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, local_files_only=True, use_safetensors=True
    )
    model.to(device)
    # PyTorch's fused encoder-layer "fast path" computes the padding-masked softmax with a CPU kernel that
    # took half of a 32-sequence batch here; the standard path (scaled_dot_product_attention) halves the
    # batch time, equally batch-invariant. Process-wide, and meant so: serving and evaluation processes
    # hold only models loaded here.
    torch.backends.mha.set_fastpath_enabled(False)
    for module in model.modules():
        if type(module) in _ROWWISE:
            module.__class__ = _ROWWISE[type(module)]  # same parameters and state dict

    model.eval()
    labels = tuple(model.config.id2label[i] for i in range(model.config.num_labels))
    return Predictor(
        tokenizer=tokenizer,
        model=model,
        device=device,
        labels=labels,
        spec=spec,
        max_length=int(settings.get("max_length", tokenizer.model_max_length)),
        limits=limits,
    )
