"""How large each preset's Lambda-hosted model is, and the memory and /tmp its function gets.

No aws_cdk import (stacks/lambda_environment.py decides with it which models get a function). The
artifact does not exist at synth (training writes it later), so the size is the preset's: its
classifier's parameter count at the preset's defaults x 4 bytes (model.onnx holds float32 weights).
The counts are computed, not measured: ``tests/unit/stacks/test_lambda_sizing.py`` builds each preset's
real architecture on torch's meta device (no weights, no download) and checks this table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stacks.config import ModelConfig

PRESET_PARAMETERS = {
    "circrna": 169_634,  # the k-mer transformer at the preset's sizes (statistics branch, MLP head)
    "protein-localization": 419_941_386,  # ProtBert (30 layers, hidden 1024) + 10 labels
    "aptamer-pairs": 11_685_122,  # albert-base-v2 + 2 labels
    "entailment": 109_484_547,  # bert-base-uncased + 3 labels
    "medical-specialty": 66_968_852,  # distilbert-base-uncased + 20 labels (the data decides how many)
}
MB = 1024 * 1024
# The largest model.onnx a function serves. The function fetches it on a cold start at roughly 75 MB/s
# (the figure for Lambda reading S3, not measured here): 512 MB is ~7 s, which with the session's
# creation still answers inside the invoker's 25 s. A larger model keeps today's behaviour (503 while
# waking); serving.lambda_memory_mb does not change that, the model's size does.
MAX_MODEL_MB = 512
# Memory: the interpreter with ONNX Runtime, numpy and tokenizers, plus the weights held by the session
# and its working buffers, at least one full vCPU (Lambda gives one per 1,769 MB). /tmp: model.onnx and
# the tokenizer files only (the safetensors weights are not unpacked), one artifact at a time.
BASE_MEMORY_MB = 512
MEMORY_PER_MODEL_MB = 3
MIN_MEMORY_MB = 1769
MAX_MEMORY_MB = 10240
MIN_STORAGE_MB = 512
STORAGE_SLACK_MB = 64
MAX_STORAGE_MB = 10240


@dataclass(frozen=True, kw_only=True)
class LambdaSize:
    model_mb: float
    memory_mb: int
    storage_mb: int

    @property
    def fits(self) -> bool:
        return self.model_mb <= MAX_MODEL_MB


def model_mb(preset: str) -> float:
    """model.onnx's size in MB for the preset's defaults (computed: parameters x 4 bytes)."""
    return PRESET_PARAMETERS[preset] * 4 / MB


def lambda_size(model: ModelConfig) -> LambdaSize:
    """The function's memory and /tmp: serving.lambda_memory_mb / lambda_storage_mb when set, else from
    the model's size, rounded up to 64 MB."""
    size = model_mb(model.preset)
    memory = max(MIN_MEMORY_MB, _round_up(BASE_MEMORY_MB + MEMORY_PER_MODEL_MB * size))
    storage = max(MIN_STORAGE_MB, _round_up(size + STORAGE_SLACK_MB))
    serving = model.serving
    return LambdaSize(
        model_mb=size,
        memory_mb=serving.lambda_memory_mb or min(memory, MAX_MEMORY_MB),
        storage_mb=serving.lambda_storage_mb or min(storage, MAX_STORAGE_MB),
    )


def _round_up(mb: float) -> int:
    return int(math.ceil(mb / 64) * 64)
