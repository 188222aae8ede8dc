"""The Lambdas' Powertools layer, unpacked at synth from wheels pinned in requirements-lambda-layer.txt.

Powertools' public layer is found through an SSM parameter that exists only in some regions; this
layer deploys wherever Lambda runs. ``make install`` downloads the wheels for the functions' platform
(CPython 3.12, arm64: pydantic-core is compiled) into ``.venv/lambda-layer-wheels``; synth only unpacks
them, so it stays offline, and the same wheels give the same asset hash. No aws_cdk import.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_REQUIREMENTS = ROOT / "requirements-lambda-layer.txt"
WHEEL_DIR = ROOT / ".venv" / "lambda-layer-wheels"
# The functions' runtime and architecture, which the compiled wheels (pydantic-core) are built for.
PYTHON_TAG = "cp312"
PLATFORM_TAG = "aarch64"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[A-Za-z0-9.+!-]+)$")


class LayerError(RuntimeError):
    """A pinned wheel of the layer is missing: `make install` downloads them."""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def layer_pins(requirements: Path = LAYER_REQUIREMENTS) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line."""
    pins = {}
    for number, line in enumerate(requirements.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        if match is None:
            raise LayerError(f"{requirements.name}:{number}: {line!r} is not an exact name==version pin")
        pins[_normalise(match["name"])] = match["version"]
    return pins


def _wheel(wheel_dir: Path, name: str, version: str, requirements: Path = LAYER_REQUIREMENTS) -> Path:
    """The one wheel of that pin usable on the functions' runtime (pure Python, or cp312 on arm64, or
    the stable ABI (abi3, as tokenizers ships) on arm64)."""
    for path in sorted(wheel_dir.glob("*.whl")):
        wheel_name, wheel_version, *_, python, abi, platform = path.stem.split("-")
        if (_normalise(wheel_name), wheel_version) != (name, version):
            continue
        compiled = python == PYTHON_TAG or (abi == "abi3" and python.startswith("cp3"))
        if platform == "any" or (compiled and PLATFORM_TAG in platform):
            return path
    raise LayerError(
        f"the Lambda functions need the wheel {name}=={version} for {PYTHON_TAG} on {PLATFORM_TAG} (or "
        f"pure Python) in {wheel_dir}; run `make install`, which downloads every wheel of "
        f"{requirements.name}"
    )


def stage_layer(
    destination: Path, *, wheel_dir: Path = WHEEL_DIR, requirements: Path = LAYER_REQUIREMENTS
) -> Path:
    """Unpack every pinned wheel into ``destination/python`` (Lambda's layer layout); returns destination."""
    if destination.exists():
        shutil.rmtree(destination)
    unpack_wheels(destination / "python", wheel_dir=wheel_dir, requirements=requirements)
    return destination


def unpack_wheels(target: Path, *, wheel_dir: Path, requirements: Path) -> None:
    """Unpack the wheel of every pin of ``requirements`` into ``target`` (created)."""
    pins = sorted(layer_pins(requirements).items())
    wheels = [_wheel(wheel_dir, name, version, requirements) for name, version in pins]
    target.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
