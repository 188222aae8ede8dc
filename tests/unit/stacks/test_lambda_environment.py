"""The Lambdas' environment must fit Lambda's 4 KB: too many models is a synth error, not a deploy failure."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from stacks.config import ConfigError
from stacks.lambda_environment import (
    LAMBDA_ENVIRONMENT_BYTES,
    ServedModel,
    check_environment_size,
    environment_bytes,
    models_variable,
)
from stacks.naming import content_name, sagemaker_base

ROOT = Path(__file__).resolve().parents[3]
# How CDK renders a value CloudFormation fills in at deploy time.
TOKEN = "${Token[TOKEN.123]}"


def served(count: int) -> list[ServedModel]:
    models = []
    for i in range(count):
        name = f"model-number-{i:03d}"
        base = sagemaker_base("seqserve-service", name)
        models.append(
            ServedModel(
                name=name,
                preset="protein-localization",
                mode="on_demand",
                endpoint_name=base,
                endpoint_config_name=content_name(base, {"model": name}),
                idle_minutes=15,
            )
        )
    return models


def environment(count: int) -> dict[str, str]:
    """The functions' environment as stacks/functions.py builds it, with deploy-time values as tokens."""
    environment = {
        "STATE_TABLE": TOKEN,
        "MODELS": models_variable(served(count)),
        "NOTIFY_TOPIC_ARN": TOKEN,
        "MAX_INPUTS": "64",
        "MAX_BODY_BYTES": "262144",
        "POWERTOOLS_METRICS_NAMESPACE": "seqserve",
        "ENDPOINT_PREFIX": "seqserve-",
    }
    check_environment_size(environment, model_count=count)
    return environment


def test_many_models_fail_synth_naming_the_limit_and_the_count():
    with pytest.raises(ConfigError) as raised:
        environment(40)
    message = str(raised.value)
    assert message.startswith("models: 40 models make the Lambda environment")
    assert f"limit of {LAMBDA_ENVIRONMENT_BYTES} bytes" in message


def test_models_up_to_the_limit_fit_and_parse():
    sys.path.insert(0, str(ROOT / "lambdas"))
    from seqserve_common.settings import parse_settings

    fits = environment(16)
    # What the function really gets: every variable, each deploy-time value at its 256-byte allowance.
    assert environment_bytes({**fits, "POWERTOOLS_SERVICE_NAME": "idle-checker"}) <= LAMBDA_ENVIRONMENT_BYTES
    settings = parse_settings({**fits, "STATE_TABLE": "t"})
    assert len(settings.models) == 16
    assert settings.models["model-number-000"].endpoint_config_name.startswith("seqserve-service-")
    assert len(json.loads(fits["MODELS"])) == 16


def test_app_py_refuses_too_many_models_with_a_message(tmp_path):
    import aws_cdk as cdk

    spec = importlib.util.spec_from_file_location("seqserve_cdk_app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    models = {f"m{i:02d}-{'x' * 28}": {"preset": "circrna"} for i in range(25)}
    app = cdk.App(context={"models": models}, outdir=str(tmp_path))
    with pytest.raises(SystemExit) as raised:
        module.synth(app)
    message = str(raised.value.code)
    assert message.startswith("seqserve: bad deployment config in cdk.json context: models: 25 models")
    assert not list(tmp_path.glob("*.template.json")), "no template is written"
