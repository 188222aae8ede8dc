"""The `seqserve` CLI finds the API URL, the key and each model's training pipeline among the service
stack's outputs by their key: the keys CDK gives those outputs must keep matching."""

from __future__ import annotations

import re

import pytest

from seqserve_cli.connection import CliError, output_named


def test_the_cli_finds_url_key_and_pipelines_in_the_outputs(full):
    outputs = {key: str(value["Value"]) for key, value in full.service.to_json()["Outputs"].items()}
    stack = "seqserve-service"
    assert "execute-api" in output_named(outputs, r"ApiUrl[0-9A-F]*", "the API URL", stack)
    assert [key for key in outputs if re.fullmatch(r"ApiApiKeyId[0-9A-F]*", key)]
    for model in ("circrna", "aptamers", "proteins", "specialty"):
        arn = output_named(outputs, f"Model{model}TrainingStateMachine[0-9A-F]*", model, stack)
        assert "TrainingStateMachine" in arn
    with pytest.raises(CliError, match="has no output for nothing"):
        output_named(outputs, "Nothing", "nothing", stack)
