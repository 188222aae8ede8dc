"""The local stack reads cdk.json as app.py does: the CDK's own context keys are not the app's config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.settings import CDK_JSON, local_config, read_context
from stacks.config import ConfigError


def test_the_repositorys_cdk_json_serves_locally_despite_its_feature_flags() -> None:
    context = read_context()
    raw = json.loads(CDK_JSON.read_text())["context"]
    assert any(key.startswith("@aws-cdk/") for key in raw)
    assert not any(key.startswith("@aws-cdk/") or key == "cli-telemetry" for key in context)
    config = local_config(context=context, presets={"circrna": "circrna"}, idle_minutes=2)
    assert [model.name for model in config.models] == ["circrna"]


def test_an_unknown_key_in_cdk_json_still_fails_locally(tmp_path: Path) -> None:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {"@aws-cdk/core:checkSecretUsage": True, "kms_key": "x"}}))
    context = read_context(path)
    assert context == {"kms_key": "x"}
    with pytest.raises(ConfigError, match="kms_key"):
        local_config(context=context, presets={"circrna": "circrna"}, idle_minutes=None)
