"""Fixtures shared across test folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backbones import write_backbone


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``tiny_backbone("bert-base-uncased")``: folder of a tiny random stand-in for that Hub model,
    written once per test session."""
    written: dict[str, Path] = {}

    def get(model_name: str) -> Path:
        if model_name not in written:
            directory = tmp_path_factory.mktemp("backbone") / model_name.replace("/", "--")
            written[model_name] = write_backbone(model_name, directory)
        return written[model_name]

    return get
