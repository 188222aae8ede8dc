"""A trained model directory loaded for serving, and the scores it gives a batch of inputs.

Scores must not depend on which other inputs share a request, to float tolerance: a request's inputs
are tokenized together and run in micro-batches through the model's ordinary batched kernels, with the
padding mask keeping padding out of every real token's result. Inputs are ordered by length first, so
a micro-batch holds inputs of similar length and little padding. What a neighbour can still change is
the kernel a shape picks, which moves a float32 result in its last bits (the tests hold every input's
probabilities alone and in mixed batches within ``1e-5`` of each other).

Not int8: dynamic quantization scales activations per batch tensor, so neighbours move an input's
scores. Measured on the trained circrna model and 128 real sequences, alone vs in batches of 32: up to
0.05 in probability with int8 linear layers, 2e-7 in float; and int8 was no faster (attention, the
convolution and layer norms dominate a batch, not linear layers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

# Importing kmer, nucleotide and protein registers the custom model and tokenizer classes with the Auto
# factories.
from model_code.modeling import kmer  # noqa: F401
from model_code.presets import get_preset
from model_code.serving.payload import Item, Request

# Shared with the ONNX Runtime path, which imports no torch; re-exported here for existing importers.
from model_code.serving.scoring import (  # noqa: F401
    SEQSERVE_FILE,
    ModelDirError,
    Prediction,
    characters,
    model_settings,
    torch_threads,
)
from model_code.serving.validation import InputSpec, Limits, check_request
from model_code.tokenization import nucleotide, protein  # noqa: F401


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
        items = tuple(map(self.spec.normalise, request.inputs))
        order = sorted(range(len(items)), key=lambda i: characters(items[i]))
        probabilities = torch.empty(len(items), len(self.labels))
        step = self.limits.micro_batch
        with torch.inference_mode():
            for start in range(0, len(order), step):
                chunk = order[start : start + step]
                batch = self._encode([items[i] for i in chunk]).to(self.device)
                logits = self.model(**batch).logits
                probabilities[chunk] = torch.softmax(logits.float(), dim=-1).cpu()
        scores = tuple(map(tuple, probabilities.tolist()))
        return Prediction(scores=scores, labels=self.labels, top_k=request.top_k)

    def _encode(self, items: list[Item]):
        pairs = [item for item in items if isinstance(item, tuple)]
        texts, text_pairs = list(zip(*pairs, strict=True)) if pairs else (items, None)
        return self.tokenizer(
            list(texts),
            list(text_pairs) if text_pairs is not None else None,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )


def load_predictor(model_dir: str | Path, *, limits: Limits, device: torch.device | None = None) -> Predictor:
    """Load a trained model directory from its local files only (safetensors weights)."""
    model_dir = Path(model_dir)
    settings = model_settings(model_dir)
    preset = get_preset(settings["preset"])
    spec = InputSpec.of(preset)
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, local_files_only=True, use_safetensors=True
    )
    model.to(device)
    model.eval()
    # PyTorch's fused encoder-layer "fast path" computes the padding-masked softmax with a CPU kernel that
    # took most of a 32-sequence batch here; the standard path (scaled_dot_product_attention) is several
    # times faster. Process-wide, and meant so: serving and evaluation processes hold only models
    # loaded here.
    torch.backends.mha.set_fastpath_enabled(False)
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
