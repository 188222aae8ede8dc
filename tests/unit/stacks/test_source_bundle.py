"""The training source bundle: the layout the SageMaker training toolkit opens, byte-for-byte reproducible."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from stacks.source_bundle import build_source_tarball

MODEL_CODE = Path(__file__).resolve().parents[3] / "model_code"


def make_source(root: Path) -> Path:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "train.py").write_text("print('train')\n")
    (root / "requirements.txt").write_text("transformers\n")
    (root / "pkg" / "mod.py").write_text("X = 1\n")
    (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (root / "tests" / "test_x.py").write_text("")
    return root


def test_files_sit_at_the_root_without_caches_or_tests(tmp_path):
    bundle = build_source_tarball(
        source=make_source(tmp_path / "src"), destination=tmp_path / "out" / "s.tar.gz"
    )
    with tarfile.open(bundle, mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["pkg/mod.py", "requirements.txt", "train.py"]
        assert tar.extractfile("train.py").read() == b"print('train')\n"


def test_the_same_source_gives_the_same_bytes(tmp_path):
    source = make_source(tmp_path / "src")
    first = build_source_tarball(source=source, destination=tmp_path / "a.tar.gz").read_bytes()
    (source / "train.py").touch()  # a newer mtime must not change the bundle
    second = build_source_tarball(source=source, destination=tmp_path / "b.tar.gz").read_bytes()
    assert first == second
    (source / "train.py").write_text("print('changed')\n")
    assert build_source_tarball(source=source, destination=tmp_path / "c.tar.gz").read_bytes() != first


def test_the_repository_model_code_bundles_train_py_at_the_root(tmp_path):
    bundle = build_source_tarball(source=MODEL_CODE, destination=tmp_path / "sourcedir.tar.gz")
    with tarfile.open(bundle, mode="r:gz") as tar:
        names = set(tar.getnames())
    assert {"train.py", "_package.py", "__init__.py", "requirements.txt"} <= names
    # The package's folders go in whole: train.py imports from them.
    assert {"training/metrics.py", "modeling/kmer.py", "data/loading.py", "serving/server.py"} <= names


def test_a_missing_source_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"training source directory .*nowhere does not exist"):
        build_source_tarball(source=tmp_path / "nowhere", destination=tmp_path / "x.tar.gz")


@pytest.mark.slow
def test_train_py_runs_from_the_unpacked_bundle_alone(tmp_path):
    """As the training toolkit runs it: the bundle unpacked into a folder of another name, python
    train.py there, with the repository off sys.path; the package's folders must all be in the bundle."""
    bundle = build_source_tarball(source=MODEL_CODE, destination=tmp_path / "sourcedir.tar.gz")
    code = tmp_path / "code"
    with tarfile.open(bundle, mode="r:gz") as tar:
        tar.extractall(code, filter="data")
    environ = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "train.py", "--help"], cwd=code, env=environ, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "--preset" in result.stdout
