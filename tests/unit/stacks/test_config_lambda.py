"""Issue 21's config: the ``lambda`` serving mode and the on_demand ``bridge`` flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.config import ConfigError, parse_deployment
from stacks.lambda_environment import ServedModel, lambda_served


def serving(**section) -> object:
    (model,) = parse_deployment({"models": {"circrna": {"preset": "circrna", "serving": section}}}).models
    return model


def test_the_bridge_is_on_by_default_where_the_model_fits():
    model = serving()
    assert model.serving.bridge and lambda_served(model)


def test_the_bridge_can_be_turned_off():
    model = serving(bridge=False)
    assert not model.serving.bridge and not lambda_served(model)


def test_the_bridge_is_off_where_the_function_cannot_serve_the_model():
    assert not lambda_served(serving(instance_type="ml.g5.xlarge"))
    assert not lambda_served(serving(runtime="torch"))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"runtime": "torch", "bridge": True}, r"bridge: the serving function runs the ONNX export on CPU"),
        (
            {"mode": "always_on", "model_data": "s3://bucket/model.tar.gz", "bridge": True},
            r"bridge: mode 'always_on' has no wake to bridge",
        ),
        ({"bridge": "yes"}, r"bridge: expected true or false"),
    ],
)
def test_a_bridge_asked_for_where_it_cannot_serve_is_an_error_naming_the_key(section, message):
    with pytest.raises(ConfigError, match=rf"models\.circrna\.serving\.{message}"):
        serving(**section)


def test_lambda_mode_is_served_by_its_function_alone():
    model = serving(mode="lambda")
    assert model.serving.mode == "lambda" and lambda_served(model)
    assert not model.serving.uses_gpu


def test_lambda_mode_rejects_endpoint_only_keys_naming_them():
    with pytest.raises(ConfigError) as raised:
        serving(mode="lambda", instance_type="ml.m5.large", max_instances=2, idle_minutes=5)
    message = str(raised.value)
    assert message.startswith("models.circrna.serving: instance_type, idle_minutes, max_instances ")
    assert "mode 'lambda'" in message


def test_lambda_mode_serves_onnx_only():
    with pytest.raises(
        ConfigError, match=r"models\.circrna\.serving\.runtime: mode 'lambda' serves the ONNX"
    ):
        serving(mode="lambda", runtime="torch")


def test_a_lambda_mode_entry_in_models_names_its_function_and_no_endpoint(monkeypatch):
    # The Lambdas import seqserve_common from their own folder, as Lambda's runtime does.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3] / "lambdas"))
    from seqserve_common.settings import parse_settings

    served = ServedModel(
        name="small",
        preset="circrna",
        mode="lambda",
        endpoint_name="seqserve-small",
        endpoint_config_name=None,
        idle_minutes=15,
        serving_function="seqserve-small-serving",
    )
    entry = served.as_environment()
    assert "endpoint_name" not in entry and entry["serving_function"] == "seqserve-small-serving"
    spec = parse_settings({"STATE_TABLE": "t", "MODELS": json.dumps({"small": entry})}).models["small"]
    assert (spec.lambda_only, spec.serving_function, spec.endpoint_name) == (
        True,
        "seqserve-small-serving",
        "",
    )
