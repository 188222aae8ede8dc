"""Issue 22, items 1 and 3: what make demo installs, what make destroy runs and says, and that make test
tells a non-root user which system package to install instead of failing in apt-get."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dry_run(target: str, venv: Path, *flags: str) -> str:
    """The commands ``make TARGET`` would run from a fresh clone (no .venv yet)."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *flags, target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_make_demo_installs_only_the_runtime(tmp_path):
    commands = dry_run("demo", tmp_path / "venv")
    assert "pip install --quiet -r requirements.txt\n" in commands
    for not_for_the_demo in ("requirements-dev.txt", "lambda-layer-wheels", "npm", "chromium", "apt-get"):
        assert not_for_the_demo not in commands, not_for_the_demo
    assert commands.rstrip().endswith("-m local demo")


def test_the_runtime_requirements_hold_no_cdk_or_test_package():
    runtime = (ROOT / "requirements.txt").read_text()
    for package in ("aws-cdk-lib", "cdk-nag", "sagemaker==", "pytest", "playwright", "cfn-lint"):
        assert package not in runtime, package


def test_make_test_installs_the_dev_packages_and_the_npm_packages(tmp_path):
    # -B: as in a fresh clone, where node_modules is not there either.
    commands = dry_run("install", tmp_path / "venv", "-B")
    assert "-r requirements.txt -r requirements-dev.txt" in commands
    assert "npm ci" in commands


def test_make_destroy_destroys_both_stacks_and_says_what_it_keeps(tmp_path):
    commands = dry_run("destroy", tmp_path / "venv")
    assert "npx --no-install cdk destroy --all" in commands
    said = commands[commands.index("cdk destroy") :]
    for kept in ("S3 bucket", "ECR repository", "DynamoDB tables", "No endpoint is left"):
        assert kept in said, kept
    for how in ("aws s3 rb", "aws ecr delete-repository", "aws dynamodb delete-table"):
        assert how in said, how


def test_make_test_tells_a_non_root_user_what_to_install(tmp_path):
    # A PATH with no chromium and an ``id`` of an ordinary user: whoever runs the test.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_id = bin_dir / "id"
    fake_id.write_text("#!/bin/sh\necho 1000\n")
    fake_id.chmod(0o755)
    result = subprocess.run(
        ["/usr/bin/make", "--no-print-directory", "browser"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(bin_dir)},
    )
    assert result.returncode != 0
    assert "sudo apt-get install chromium" in result.stderr
    assert "installing" not in result.stdout
