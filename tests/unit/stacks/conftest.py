"""Builds each test app once per session: synth through jsii is slow, assertions are cheap."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.app_builder import SeqserveStacks, build_app
from stacks.config import parse_deployment

ARTIFACT = "s3://models-bucket/artifacts/{}/model.tar.gz"

# Every serving mode, spot training on a GPU, API-key auth: one app covers them all.
FULL_CONTEXT = {
    "prefix": "seqserve",
    "models": {
        "circrna": {"preset": "circrna"},
        "aptamers": {
            "preset": "aptamer-pairs",
            "serving": {
                "mode": "on_demand",
                "instance_type": "ml.g4dn.xlarge",
                "idle_minutes": 10,
                "check_every_minutes": 2,
                "model_data": ARTIFACT.format("aptamers"),
            },
        },
        "proteins": {
            "preset": "protein-localization",
            "serving": {
                "mode": "serverless",
                "memory_mb": 3072,
                "max_concurrency": 4,
                "model_data": ARTIFACT.format("proteins"),
            },
            "training": {
                "instance_type": "ml.g5.xlarge",
                "instance_count": 2,
                "spot": True,
                "max_runtime_minutes": 120,
                "max_wait_minutes": 240,
                "hyperparameters": {"epochs": 3, "warmup_ratio": 0.1},
            },
        },
        "specialty": {
            "preset": "medical-specialty",
            "serving": {
                "mode": "always_on",
                "instance_type": "ml.c5.xlarge",
                "min_instances": 1,
                "max_instances": 4,
                "target_invocations_per_instance": 200,
                "model_data": ARTIFACT.format("specialty"),
            },
        },
    },
    "api": {"auth": "api_key", "rate_limit_rps": 20, "burst": 40, "quota_per_day": 5000, "max_inputs": 200},
    "notify_email": "ops@example.com",
}

IAM_CONTEXT = {
    "prefix": "iamauth",
    "models": {"circrna": {"preset": "circrna"}},
    "api": {"auth": "iam"},
    "env": {"account": "123456789012", "region": "eu-west-1"},
}


@dataclass(frozen=True, kw_only=True)
class Built:
    stacks: SeqserveStacks
    stateful: Template
    service: Template
    outdir: Path


ROOT = Path(__file__).resolve().parents[3]


def feature_flags() -> dict:
    """The feature flags of cdk.json, so test apps synthesize as `cdk synth` does."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {key: value for key, value in context.items() if key.startswith("@aws-cdk/")}


def build(context: dict, outdir: Path) -> Built:
    app = cdk.App(outdir=str(outdir), context={**feature_flags(), "aws:cdk:enable-path-metadata": True})
    stacks = build_app(app, parse_deployment(context))
    return Built(
        stacks=stacks,
        stateful=Template.from_stack(stacks.stateful),
        service=Template.from_stack(stacks.service),
        outdir=outdir,
    )


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(FULL_CONTEXT, tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="session")
def iam_app(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(IAM_CONTEXT, tmp_path_factory.mktemp("iam"))
