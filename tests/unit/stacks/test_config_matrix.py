"""Every documented config option, and the combinations of them, synthesizes clean (issue 20): no
cdk-nag AwsSolutions finding and no cfn-lint finding on any template.

The app-wide options (auth, CORS, env, notify_email, tags, network, kms_key_arn) are combined
pairwise, not as their full product (192 apps): every two levels of any two options meet in at least
one app, which is where interactions between options show (a KMS key with a GPU endpoint's local
storage, a VPC with serverless, tags with the API key...), in 8 apps rather than 192.
Every app serves the same set of models, which between them set every model-level option, so each
model-level option also meets every app-wide level.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match
from cfnlint.api import lint_file

from tests.unit.stacks.conftest import build

KEY = "arn:aws:kms:eu-west-1:123456789012:key/12345678-1234-1234-1234-123456789012"
ARTIFACT = "s3://models-bucket/artifacts/{}/model.tar.gz"

# Each option's levels; the first is the default (left out of the context).
APP_OPTIONS: dict[str, tuple[Any, ...]] = {
    "auth": ("api_key", "iam"),
    "cors_origins": (None, ["https://lab.example"], ["https://a.example", "https://b.example"]),
    "env": (None, {"account": "123456789012", "region": "eu-west-1"}),
    "notify_email": (None, "ops@example.com"),
    "tags": (None, {"team": "genomics", "cost-center": "CC 1234"}),
    "network": (
        None,
        {"subnet_ids": ["subnet-0123abcd", "subnet-0123abce"], "security_group_ids": ["sg-0123abcd"]},
    ),
    "kms_key_arn": (None, KEY),
}

# Between them, every documented serving and training option (README, "Configure a model"), in as few
# models as that takes (each model adds its pipeline, roles and serving to every app's synth): a CPU
# on_demand model trained on CPU with spot, a GPU always_on one (local NVMe storage: no KMS key) trained
# on two GPU hosts, and a serverless one.
MODELS: dict[str, dict[str, Any]] = {
    "circrna": {
        "preset": "circrna",
        "serving": {
            "idle_minutes": 10,
            "check_every_minutes": 2,
            "max_wake_minutes": 20,
            "keep_configs": 2,
            "max_awake_hours_per_day": 8,
            "keep_warm": [{"days": "mon-fri", "from": "08:00", "to": "18:00", "tz": "Europe/Berlin"}],
            "warm_lead_minutes": 15,
            "max_lease_minutes": 240,
            "hourly_price": 0.134,
        },
        "training": {
            "spot": True,
            "max_runtime_minutes": 60,
            "max_wait_minutes": 120,
            "volume_gb": 20,
            "hyperparameters": {"epochs": 3},
        },
    },
    "steady": {
        "preset": "medical-specialty",
        "serving": {
            "mode": "always_on",
            "instance_type": "ml.g4dn.xlarge",
            "runtime": "torch",
            "min_instances": 1,
            "max_instances": 3,
            "target_invocations_per_instance": 150,
            "model_data": ARTIFACT.format("steady"),
        },
        "training": {"instance_type": "ml.g5.xlarge", "instance_count": 2},
    },
    "proteins": {
        "preset": "protein-localization",
        "serving": {
            "mode": "serverless",
            "memory_mb": 4096,
            "max_concurrency": 2,
            "model_data": ARTIFACT.format("proteins"),
        },
    },
}
API = {"rate_limit_rps": 20, "burst": 40, "quota_per_day": 5000, "max_inputs": 32, "max_body_bytes": 65536}


def pairs_of(row: dict[str, int]) -> set[tuple[tuple[str, int], tuple[str, int]]]:
    return {((a, row[a]), (b, row[b])) for a, b in itertools.combinations(sorted(row), 2)}


def _row(
    auth: int, cors_origins: int, env: int, notify_email: int, tags: int, network: int, kms_key_arn: int
):
    return {
        "auth": auth,
        "cors_origins": cors_origins,
        "env": env,
        "notify_email": notify_email,
        "tags": tags,
        "network": network,
        "kms_key_arn": kms_key_arn,
    }


# Level indexes of APP_OPTIONS per app: a covering array of strength 2 (found by a randomized greedy
# search; the plain greedy needs 9 apps). The first test below checks that it covers every pair.
ROWS = [
    _row(auth=0, cors_origins=2, env=0, notify_email=0, tags=0, network=1, kms_key_arn=1),
    _row(auth=1, cors_origins=2, env=1, notify_email=1, tags=1, network=0, kms_key_arn=0),
    _row(auth=1, cors_origins=0, env=1, notify_email=0, tags=1, network=1, kms_key_arn=1),
    _row(auth=0, cors_origins=0, env=0, notify_email=1, tags=0, network=0, kms_key_arn=0),
    _row(auth=1, cors_origins=1, env=1, notify_email=0, tags=0, network=1, kms_key_arn=0),
    _row(auth=0, cors_origins=1, env=0, notify_email=1, tags=1, network=0, kms_key_arn=1),
    _row(auth=0, cors_origins=2, env=1, notify_email=1, tags=0, network=1, kms_key_arn=0),
    _row(auth=1, cors_origins=2, env=0, notify_email=0, tags=0, network=0, kms_key_arn=1),
]


def context_of(row: dict[str, int], number: int) -> dict[str, Any]:
    chosen = {name: APP_OPTIONS[name][level] for name, level in row.items()}
    models = dict(MODELS)
    if chosen["network"] is not None:
        # SageMaker Serverless Inference does not run in a VPC: the config refuses it (test_platform_config).
        models.pop("proteins")
    api = {**API, "auth": chosen["auth"]}
    if chosen["cors_origins"] is not None:
        api["cors_origins"] = chosen["cors_origins"]
    context: dict[str, Any] = {"prefix": f"matrix{number}", "models": models, "api": api}
    for name in ("env", "notify_email", "tags", "network", "kms_key_arn"):
        if chosen[name] is not None:
            context[name] = chosen[name]
    return context


def test_the_rows_cover_every_pair_of_levels_in_far_fewer_apps_than_the_product():
    every_pair = {
        ((a, i), (b, j))
        for a, b in itertools.combinations(sorted(APP_OPTIONS), 2)
        for i in range(len(APP_OPTIONS[a]))
        for j in range(len(APP_OPTIONS[b]))
    }
    assert set().union(*(pairs_of(row) for row in ROWS)) == every_pair
    assert len(ROWS) == 8 and len(list(itertools.product(*APP_OPTIONS.values()))) == 192


@pytest.mark.parametrize("number", range(len(ROWS)), ids=[f"app{n}" for n in range(len(ROWS))])
def test_every_combination_synthesizes_without_a_nag_or_lint_finding(number: int, tmp_path: Path):
    built = build(context_of(ROWS[number], number), tmp_path)
    findings = []
    for stack in (built.stacks.stateful, built.stacks.service):
        annotations = Annotations.from_stack(stack)
        for entry in annotations.find_error("*", Match.any_value()) + annotations.find_warning(
            "*", Match.string_like_regexp("AwsSolutions-.*")
        ):
            findings.append(f"{entry.id}: {str(entry.entry.data)[:160]}")
    templates = sorted(tmp_path.glob("*.template.json"))
    assert len(templates) == 2
    for template in templates:
        findings += [f"{template.name}: {m.rule.id} {m.message}" for m in lint_file(template)]
    assert findings == [], ROWS[number]
