"""Train the circrna preset on generated data, the way SageMaker runs the training entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from model_code.data.synthetic import write_dataset

from .model_server import REPO_ROOT

# Small enough to train in a couple of minutes on two shared CPU cores, large enough to learn the
# generated classes (0.925 validation accuracy in one run here); any model_code hyperparameter may be given.
QUICK_HYPERPARAMETERS: Mapping[str, str] = {
    "epochs": "2",
    "batch_size": "16",
    "hidden_size": "32",
    "num_hidden_layers": "1",
    "num_attention_heads": "2",
    "intermediate_size": "64",
}

# How much of the training log a failure shows (the log may sit in a temporary folder).
LOG_TAIL_LINES = 20


def train_circrna(
    *,
    work_dir: Path,
    log_file: Path,
    n_per_class: int = 200,
    seed: int = 7,
    length_range: tuple[int, int] | None = None,
    hyperparameters: Mapping[str, str] = QUICK_HYPERPARAMETERS,
    runtime: str = "onnx",
) -> Path:
    """Generate a dataset under work_dir, train on it, and return the trained model directory.

    With ``runtime`` onnx (the config's default), training exports and checks ``model.onnx`` as the
    pipeline's training job does for such a model (``SEQSERVE_EXPORT_FORMAT``), and fails if either fails.
    """
    data_dir, model_dir = work_dir / "data" / "train", work_dir / "model"
    write_dataset("circrna", data_dir, n_per_class=n_per_class, seed=seed, length_range=length_range)
    flags = [item for key, value in hyperparameters.items() for item in (f"--{key}", value)]
    command = [
        sys.executable,
        "-m",
        "model_code.train",
        "--preset",
        "circrna",
        "--train",
        str(data_dir),
        "--model-dir",
        str(model_dir),
        *flags,
    ]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        completed = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **({"SEQSERVE_EXPORT_FORMAT": "onnx"} if runtime == "onnx" else {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if completed.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        raise RuntimeError(f"training circrna failed (exit {completed.returncode}); the log ends:\n{tail}")
    return model_dir
