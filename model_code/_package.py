"""Make the folder this file sits in importable as the package ``model_code``.

SageMaker runs our code from a copy of this folder under another name: the training toolkit runs
``python train.py`` in ``/opt/ml/code`` and the inference toolkit imports ``inference`` with ``code/`` on
``sys.path``. Neither imports us as a package, so relative imports would fail there; registering the
folder as ``model_code`` lets every module keep the one import style it uses in this repository.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACKAGE = "model_code"


def ensure_package() -> None:
    if PACKAGE in sys.modules:
        return
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        PACKAGE, here / "__init__.py", submodule_search_locations=[str(here)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {here} as the package {PACKAGE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
