"""Package a trained model directory as the ``model.tar.gz`` SageMaker serves.

    python -m model_code.package --model-dir DIR --output model.tar.gz [--format onnx]

Layout (what the stock SageMaker PyTorch inference image expects): the model directory's files at the
root, and ``code/`` holding this package's modules (``code/inference.py`` is the handler module) and
``code/requirements.txt``, which that image installs before importing ``inference``. Training writes
the same ``code/`` into SM_MODEL_DIR with :func:`write_code_dir`, so a training job's output is
deployable as it is. ``--format onnx`` first exports ``model.onnx`` into the model directory and checks
it against torch (:mod:`model_code.export.onnx_export`); the archive then serves from the ONNX image too.
"""

from __future__ import annotations

if not __package__:
    import _package

    _package.ensure_package()

import argparse
import gzip
import shutil
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

CODE_DIR = "code"
REQUIREMENTS = "requirements.txt"
# Serving needs fewer packages than training; the artifact installs only these, as code/requirements.txt.
SERVING_REQUIREMENTS = "requirements-serving.txt"
# The files a trained model directory needs before it can be served.
REQUIRED_FILES = ("seqserve.json", "config.json")
_SOURCE = Path(__file__).resolve().parent


class PackageError(ValueError):
    """The model directory cannot be packaged; the message names the file and the reason."""


def code_files() -> list[tuple[Path, str]]:
    """Everything ``code/`` holds, as (source, path there): the package's modules, in their folders, and
    the serving requirements."""
    modules = [
        (path, path.relative_to(_SOURCE).as_posix())
        for path in sorted(_SOURCE.rglob("*.py"))
        if "__pycache__" not in path.relative_to(_SOURCE).parts
    ]
    return [*modules, (_SOURCE / SERVING_REQUIREMENTS, REQUIREMENTS)]


def write_code_dir(model_dir: Path) -> Path:
    """(Re)write ``model_dir/code`` from this package, so ``model_dir`` is servable as it is."""
    target = Path(model_dir) / CODE_DIR
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path, name in code_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / name)
    return target


def check_model_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise PackageError(f"--model-dir {model_dir}: not a directory")
    for name in REQUIRED_FILES:
        if not (model_dir / name).is_file():
            raise PackageError(f"--model-dir {model_dir}: {name} is missing; is this a trained model dir?")
    if not any(model_dir.glob("*.safetensors")):
        raise PackageError(f"--model-dir {model_dir}: no *.safetensors weights")


def write_archive(*, model_dir: Path, output: Path) -> Path:
    """Write ``output`` (gzip tar): the model files at its root plus a fresh ``code/`` from this package.

    Entries are sorted with fixed owner and times, so the same inputs give the same bytes.
    """
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    output = Path(output)
    if output.resolve().is_relative_to(model_dir.resolve()):
        raise PackageError(f"--output {output}: must not be inside the model dir it packages")
    entries = [
        (path, path.relative_to(model_dir).as_posix())
        for path in sorted(model_dir.rglob("*"))
        if path.is_file() and path.relative_to(model_dir).parts[0] != CODE_DIR
    ]
    entries += [(path, f"{CODE_DIR}/{name}") for path, name in code_files()]
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path, name in entries:
            info = tar.gettarinfo(str(path), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    partial.replace(output)  # a crash mid-write never leaves a truncated model.tar.gz behind
    return output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_code.package", description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="a trained model directory")
    parser.add_argument("--output", type=Path, required=True, help="the model.tar.gz to write")
    parser.add_argument(
        "--format",
        choices=("torch", "onnx"),
        default="torch",
        help="onnx: also export model.onnx into the model dir and check it against torch (default torch)",
    )
    args = parser.parse_args(argv)
    if args.format == "onnx":
        from model_code.export.onnx_export import OnnxExportError, export_onnx
        from model_code.serving.scoring import ModelDirError

        try:
            check_model_dir(args.model_dir)
            record = export_onnx(args.model_dir)
        except (PackageError, ModelDirError, OnnxExportError) as error:
            print(f"package: error: {error}", file=sys.stderr)
            return 2
        if not record["parity"]["passed"]:
            print(
                f"package: error: the ONNX model failed its parity check: {record['parity']}", file=sys.stderr
            )
            return 2
    try:
        written = write_archive(model_dir=args.model_dir, output=args.output)
    except PackageError as error:
        print(f"package: error: {error}", file=sys.stderr)
        return 2
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
