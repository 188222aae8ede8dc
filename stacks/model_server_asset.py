"""The Lambda-hosted model's code folder (issue 21), staged for synth and for the local stack.

No aws_cdk import: `make demo` installs only the runtime (requirements.txt), and the local stack stages
this folder for its workers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stacks.powertools_layer import ROOT, unpack_wheels

LAMBDA_SOURCE = ROOT / "lambdas"
SERVING_REQUIREMENTS = ROOT / "requirements-serving-lambda.txt"
SERVING_WHEEL_DIR = ROOT / ".venv" / "lambda-serving-wheels"
MODEL_CODE = ROOT / "model_code"
HANDLER = "model_server.handler.handler"
# Lambda's limit on a function's unzipped code and layers.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
# What the function never reads: the containers' build files, compiled caches.
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "Dockerfile", "serve", "requirements*.txt")


def stage_model_server(
    destination: Path, *, wheel_dir: Path = SERVING_WHEEL_DIR, with_wheels: bool = True
) -> Path:
    """The function's code folder: model_server/, model_code/ and the unpacked wheels; returns it.
    ``with_wheels=False``: the code only (the local stack's workers use this machine's packages)."""
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(LAMBDA_SOURCE / "model_server", destination / "model_server", ignore=IGNORED)
    shutil.copytree(MODEL_CODE, destination / "model_code", ignore=IGNORED)
    if with_wheels:
        unpack_wheels(destination, wheel_dir=wheel_dir, requirements=SERVING_REQUIREMENTS)
    return destination


def unzipped_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
