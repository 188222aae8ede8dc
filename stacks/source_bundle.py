"""The training source directory as a byte-for-byte reproducible ``sourcedir.tar.gz``.

The SageMaker training toolkit downloads ``sagemaker_submit_directory`` and opens it as a gzipped
tar, while CDK zips directory assets; so the app packs ``model_code/`` itself and ships the file as
an asset. Fixed order, times and owners keep the asset hash (and so the synth) deterministic.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

EXCLUDED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", "tests"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


def _members(source: Path) -> list[Path]:
    files = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if EXCLUDED_DIRS.intersection(relative.parts) or path.suffix in EXCLUDED_SUFFIXES:
            continue
        if path.is_file():
            files.append(path)
    return files


def build_source_tarball(*, source: Path, destination: Path) -> Path:
    """Write ``destination`` (a .tar.gz of the files under ``source``, at its root) and return it."""
    if not source.is_dir():
        raise FileNotFoundError(f"training source directory {source} does not exist")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _members(source):
            info = tarfile.TarInfo(path.relative_to(source).as_posix())
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return destination
