"""Tiny models that tell inputs apart: a few optimizer steps on generated data of their preset.

A tiny randomly initialised model scores every input about the same (its logits barely move with the
input), so a parity check at 1e-4 between two ways of scoring it (torch and ONNX, alone and in a batch,
endpoint and local) would pass even when one of them were broken. A few steps of training on the
preset's generated data spread its scores across inputs by orders of magnitude more than the tolerance;
tests assert that spread with :func:`score_spread` before they trust a parity check.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import model_code.serving.predictor  # noqa: F401  (registers the k-mer and ProtBert classes)
from model_code.data.loading import load_examples
from model_code.data.synthetic import write_dataset
from model_code.presets import get_preset

# Shorter than the presets' defaults: a few steps should take seconds on a shared CPU.
_LENGTHS = {
    "circrna": (60, 400),
    "protein-localization": (30, 80),
    "aptamer-pairs": (20, 40),
    "entailment": (4, 12),
    "medical-specialty": (10, 40),
}


# AdamW steps of 8 examples at 1e-3. Measured here (tests/unit/model_code/test_onnx.py's requests): from a
# largest score difference between inputs of 2e-5 to 6e-5 untrained (circrna 0.06) to 0.26 (ProtBert),
# 0.55 (DistilBERT), 0.93-0.98 (the others) after these steps, in 2-7 s each on one thread.
_STEPS = {"circrna": 40}
DEFAULT_STEPS = 150


def train_briefly(
    model_dir: Path, *, steps: int | None = None, learning_rate: float = 1e-3, seed: int = 0
) -> Path:
    """Train the model saved in ``model_dir`` for ``steps`` AdamW steps of 8 generated examples and save
    it back in place. Data labels the model lacks (a model dir written with stand-in labels) map onto its
    labels in a fixed order, which keeps the labels learnable."""
    model_dir = Path(model_dir)
    settings = json.loads((model_dir / "seqserve.json").read_text())
    preset = get_preset(settings["preset"])
    steps = steps if steps is not None else _STEPS.get(preset.name, DEFAULT_STEPS)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    with tempfile.TemporaryDirectory() as data:
        write_dataset(preset.name, data, n_per_class=12, seed=seed, length_range=_LENGTHS[preset.name])
        examples = load_examples(preset, data)
    seen = sorted({example.label for example in examples})
    target = {
        label: labels.index(label) if label in labels else i % len(labels) for i, label in enumerate(seen)
    }
    generator = np.random.default_rng(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    for _ in range(steps):
        batch = [examples[i] for i in generator.choice(len(examples), size=8, replace=False)]
        encoded = tokenizer(
            [e.text for e in batch],
            [e.text_pair for e in batch] if preset.pair else None,
            padding=True,
            truncation=True,
            max_length=min(preset.max_length, 128),
            return_tensors="pt",
        )
        loss = model(**encoded, labels=torch.tensor([target[e.label] for e in batch])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(model_dir)
    return model_dir


def score_spread(scores) -> float:
    """The largest difference, over labels, of one label's score between two inputs."""
    scores = np.asarray(scores, dtype=np.float64)
    return float(np.ptp(scores, axis=0).max())
