"""Issue 22, item 2: an unknown or ignored key anywhere in the deployment config fails synth by name."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks.config import ConfigError, app_context_keys, parse_deployment

ROOT = Path(__file__).resolve().parents[3]


def _cdk_json_context() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def _synth(context: dict, outdir: Path) -> str:
    spec = importlib.util.spec_from_file_location("seqserve_cdk_app_strict", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as raised:
        module.synth(cdk.App(context=context, outdir=str(outdir)))
    return str(raised.value.code)


@pytest.mark.parametrize("typo", ["kms_key", "tag", "notify-email"])
def test_a_misspelt_top_level_key_fails_synth_naming_it_and_the_known_keys(tmp_path, typo):
    context = {**_cdk_json_context(), typo: "x"}
    message = _synth(context, tmp_path)
    assert f"{typo}: unknown key in the cdk.json context; known keys: prefix, models, api" in message
    assert "kms_key_arn" in message
    assert not list(tmp_path.iterdir()), "nothing is synthesized from a bad config"


def test_the_cdk_own_context_keys_are_left_to_the_cdk():
    context = {
        **_cdk_json_context(),
        "@aws-cdk/aws-lambda:recognizeVersionProps": True,
        "aws:cdk:enable-path-metadata": True,
        "aws-cdk:enableDiffNoFail": "true",
        "cdk-default-stack": "x",
        "cli-telemetry": False,
        "acknowledged-issue-numbers": [31885],
        "availability-zones:account=123456789012:region=eu-west-1": ["eu-west-1a"],
    }
    mine = app_context_keys(context)
    assert set(mine) == {"prefix", "models", "api"}
    parse_deployment(mine)


def test_the_shipped_cdk_json_passes():
    parse_deployment(app_context_keys(_cdk_json_context()))


def _model(serving: dict) -> dict:
    return {"models": {"m": {"preset": "circrna", "serving": serving}}}


@pytest.mark.parametrize(
    ("serving", "message"),
    [
        ({"max_instances": 1}, "models.m.serving.max_instances: mode 'on_demand' does not use it"),
        ({"min_instances": 2}, "models.m.serving.min_instances: mode 'on_demand' does not use it"),
        ({"memory_mb": 2048}, "models.m.serving.memory_mb: mode 'on_demand' does not use it"),
        (
            {"mode": "always_on", "model_data": "s3://bucket/m.tar.gz", "idle_minutes": 15},
            "models.m.serving.idle_minutes: mode 'always_on' does not use it (only 'on_demand' does)",
        ),
        (
            {"mode": "serverless", "model_data": "s3://bucket/m.tar.gz", "check_every_minutes": 5},
            "models.m.serving.check_every_minutes: mode 'serverless' does not use it",
        ),
        (
            {"mode": "serverless", "model_data": "s3://bucket/m.tar.gz", "max_instances": 2},
            "models.m.serving.max_instances: mode 'serverless' does not use it (only 'always_on' does)",
        ),
        (
            {"mode": "always_on", "model_data": "s3://bucket/m.tar.gz", "max_concurrency": 5},
            "models.m.serving.max_concurrency: mode 'always_on' does not use it (only 'serverless' does)",
        ),
    ],
)
def test_an_option_the_mode_ignores_is_refused_by_name(serving, message):
    with pytest.raises(ConfigError) as raised:
        parse_deployment(_model(serving))
    assert str(raised.value).startswith(message)


def test_options_the_mode_reads_are_accepted():
    config = parse_deployment(
        _model(
            {
                "mode": "always_on",
                "model_data": "s3://bucket/m.tar.gz",
                "min_instances": 2,
                "max_instances": 3,
            }
        )
    )
    assert config.models[0].serving.max_instances == 3
