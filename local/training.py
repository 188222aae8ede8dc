"""Train the circrna preset on generated data, the way SageMaker runs the training entry point."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from .model_server import REPO_ROOT

# Small enough to train in well under a minute on two CPU cores, large enough to learn the
# generated classes; any key of model_code's hyperparameters may be overridden.
QUICK_HYPERPARAMETERS: Mapping[str, str] = {
    "epochs": "2",
    "batch_size": "16",
    "hidden_size": "32",
    "num_hidden_layers": "1",
    "num_attention_heads": "2",
    "intermediate_size": "64",
    "max_length": "256",
}


def train_circrna(
    *,
    work_dir: Path,
    n_per_class: int = 200,
    seed: int = 7,
    hyperparameters: Mapping[str, str] = QUICK_HYPERPARAMETERS,
    log_file: Path | None = None,
) -> Path:
    """Generate a dataset under work_dir, train on it, and return the trained model directory."""
    data_dir, model_dir = work_dir / "data" / "train", work_dir / "model"
    data_dir.mkdir(parents=True, exist_ok=True)
    generate = (
        "import sys; from pathlib import Path; from model_code.synthetic import write_dataset; "
        "write_dataset('circrna', Path(sys.argv[1]), n_per_class=int(sys.argv[2]), seed=int(sys.argv[3]))"
    )
    flags = [item for key, value in hyperparameters.items() for item in (f"--{key}", value)]
    commands = [
        [sys.executable, "-c", generate, str(data_dir), str(n_per_class), str(seed)],
        [
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
        ],
    ]
    log = open(log_file, "ab") if log_file else None  # noqa: SIM115 - closed below
    try:
        for command in commands:
            completed = subprocess.run(
                command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT if log else None
            )
            if completed.returncode != 0:
                where = f"; see {log_file}" if log_file else ""
                raise RuntimeError(f"training step failed ({completed.returncode}): {command[1:4]}{where}")
    finally:
        if log:
            log.close()
    return model_dir
