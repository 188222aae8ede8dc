"""Training benchmark: the circrna preset with its default hyperparameters on the shared data set.

The data (``../shared/data/circrna/train`` from the repository root, one file per class) is split 80/20,
stratified with a fixed seed; the 80 % is the training channel (train.py holds out its own validation
split from it for choosing the best epoch) and the 20 % the test channel, which nothing in training
sees. The run goes through the training entry point exactly as SageMaker calls it, and writes the model
to ``bench/out/circrna-model``, which the inference benchmark serves.

Reported: held-out accuracy, ROC AUC and macro F1 (from the model dir's evaluation.json), the wall time
of the whole run (loading, tokenizing, training, writing and evaluating the model) and the training
examples processed per second of that wall time (training examples x epochs / wall seconds), so it
counts every cost of a run, not only the optimizer steps.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from model_code.data.loading import Example, load_examples
from model_code.data.splits import stratified_split
from model_code.presets import get_preset
from model_code.train import main as train_main

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "circrna" / "train"
MODEL_DIR = REPO / "bench" / "out" / "circrna-model"
HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 20240601
TARGETS = {"accuracy": 0.90, "roc_auc": 0.95, "wall_seconds": 15 * 60}


def _write_class_files(examples: Sequence[Example], directory: Path) -> None:
    by_label: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example.text)
    directory.mkdir(parents=True)
    for label, sequences in by_label.items():
        (directory / f"{label}.txt").write_text("\n".join(sequences) + "\n")


def run(
    *,
    data: Path = DATA,
    model_dir: Path = MODEL_DIR,
    per_class: int | None = None,
    extra_arguments: Sequence[str] = (),
) -> dict:
    """Train and report; ``per_class`` and ``extra_arguments`` only shrink a run that checks the harness."""
    if not data.is_dir():
        return {"skipped": f"no circrna data at {data}: put circRNA.txt and lncRNA.txt there to run it"}
    preset = get_preset("circrna")
    examples = load_examples(preset, data)
    if per_class is not None:
        by_label: dict[str, list[Example]] = defaultdict(list)
        for example in examples:
            by_label[example.label].append(example)
        examples = [example for group in by_label.values() for example in group[:per_class]]
    train, held_out = stratified_split(examples, validation_fraction=HELD_OUT_FRACTION, seed=SPLIT_SEED)
    with tempfile.TemporaryDirectory(prefix="seqserve-bench-") as scratch:
        _write_class_files(train, Path(scratch) / "train")
        _write_class_files(held_out, Path(scratch) / "test")
        argv = ["--preset", "circrna", "--train", str(Path(scratch) / "train"), "--test"]
        argv += [str(Path(scratch) / "test"), "--model-dir", str(model_dir), *extra_arguments]
        started = time.perf_counter()
        # Training's progress bars and metric lines go to stderr, keeping stdout for the JSON document.
        with contextlib.redirect_stdout(sys.stderr):
            code = train_main(argv)
        wall = time.perf_counter() - started
    if code != 0:
        return {"failed": f"training exited with code {code}; its error is in the log above"}
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    settings = json.loads((model_dir / "seqserve.json").read_text())
    # train.py holds out ceil(fraction x n) of its training channel for validation (sklearn's rounding).
    trained_on = len(train) - math.ceil(len(train) * settings["training"]["validation_fraction"])
    hyperparameters = settings["training"]
    # A step limit ends training at a point the epoch count does not tell: no rate then.
    samples = trained_on * hyperparameters["epochs"] if hyperparameters["max_steps"] is None else None
    result = {
        "preset": "circrna",
        "data": str(data),
        "examples": {"train_channel": len(train), "trained_on": trained_on, "held_out": len(held_out)},
        "hyperparameters": hyperparameters,
        "accuracy": round(evaluation["accuracy"], 4),
        "roc_auc": round(evaluation["roc_auc"], 4),
        "macro_f1": round(evaluation["macro"]["f1"], 4),
        "wall_seconds": round(wall, 1),
        "train_samples_per_second": round(samples / wall, 2) if samples is not None else None,
        "model_dir": str(model_dir),
        "targets": TARGETS,
    }
    result["meets_targets"] = all(
        result[name] <= limit if name == "wall_seconds" else result[name] >= limit
        for name, limit in TARGETS.items()
    )
    return result
