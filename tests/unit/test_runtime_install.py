"""`make demo` and `make serve` install only requirements.txt: nothing they import may need the CDK app's or
the tests' packages (requirements-dev.txt). A fresh clone's `make demo` once failed on an aws_cdk import
that every other target's install hid."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Import names of requirements-dev.txt's packages that requirements.txt's do not bring in.
DEV_ONLY = (
    "aws_cdk",
    "constructs",
    "cdk_nag",
    "cdk_ecr_deployment",
    "jsii",
    "sagemaker",
    "sagemaker_inference",
    "ts",
    "pytest",
    "hypothesis",
    "schemathesis",
    "playwright",
    "cfnlint",
    "ruff",
)
# What the runtime targets run: the local stack and its demo, the CLI, the model code, the Lambda code.
PACKAGES = ("local", "seqserve_cli", "model_code")


def test_the_runtime_targets_import_without_the_development_packages() -> None:
    script = textwrap.dedent(
        f"""
        import importlib, importlib.abc, pkgutil, sys
        BLOCKED = {DEV_ONLY!r}

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (a development package)")
                return None

        sys.meta_path.insert(0, Blocker())
        failures = []
        for package in {PACKAGES!r}:
            module = importlib.import_module(package)
            for info in pkgutil.walk_packages(module.__path__, package + "."):
                if info.name.endswith(".__main__"):  # runs the command; its imports are walked anyway
                    continue
                try:
                    importlib.import_module(info.name)
                except ModuleNotFoundError as error:
                    if (error.name or "").split(".")[0] in BLOCKED or "development package" in str(error):
                        failures.append(f"{{info.name}}: {{error}}")
        print("\\n".join(failures))
        sys.exit(1 if failures else 0)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
