"""The deployment config parser: defaults from DESIGN.md, and errors naming the key and what is allowed."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from stacks.config import ConfigError, app_context_keys, parse_deployment

ROOT = Path(__file__).resolve().parents[3]


def one_model(**model) -> dict:
    return {"models": {"circrna": {"preset": "circrna", **model}}}


def test_defaults_match_the_design_contract():
    config = parse_deployment(one_model())
    (model,) = config.models
    assert model.name == "circrna" and model.preset == "circrna"
    assert (model.serving.mode, model.serving.instance_type) == ("on_demand", "ml.m5.large")
    assert (model.serving.idle_minutes, model.serving.check_every_minutes, model.serving.max_instances) == (
        15,
        5,
        1,
    )
    assert (model.training.instance_type, model.training.instance_count, model.training.spot) == (
        "ml.m5.xlarge",
        1,
        False,
    )
    assert dict(model.training.hyperparameters) == {}
    assert (config.api.auth, config.api.rate_limit_rps, config.api.burst) == ("api_key", 50, 100)
    assert (config.env.account, config.env.region) == (None, None)


def test_the_shipped_cdk_json_parses(tmp_path):
    import json

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    config = parse_deployment(app_context_keys(context))
    assert [m.name for m in config.models] == ["circrna"]


def test_config_is_frozen_and_hyperparameters_read_only():
    config = parse_deployment(one_model(training={"hyperparameters": {"epochs": 3, "learning_rate": 0.001}}))
    training = config.models[0].training
    assert dict(training.hyperparameters) == {"epochs": "3", "learning_rate": "0.001"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        training.spot = True
    with pytest.raises(TypeError):
        training.hyperparameters["epochs"] = "4"


def test_several_models_keep_their_order_and_modes():
    config = parse_deployment(
        {
            "models": {
                "b": {
                    "preset": "entailment",
                    "serving": {"mode": "serverless", "model_data": "s3://bkt/m.tar.gz"},
                },
                "a": {"preset": "circrna"},
            }
        }
    )
    assert [(m.name, m.serving.mode) for m in config.models] == [("b", "serverless"), ("a", "on_demand")]
    assert [m.name for m in config.on_demand_models] == ["a"]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({}, "models: at least one model is required"),
        ({"models": {}}, "models: at least one model is required"),
        ({"models": []}, "models: expected an object, got list"),
        ({"models": {"Bad_Name": {"preset": "circrna"}}}, "models.Bad_Name: model names are"),
        (
            {"models": {"x": {"preset": "dna"}}},
            "models.x.preset: 'dna' is not allowed; allowed values: circrna, protein-localization, "
            "aptamer-pairs, entailment, medical-specialty",
        ),
        (
            {"models": {"x": {"preset": "circrna", "servng": {}}}},
            "models.x.servng: unknown key; allowed keys: preset",
        ),
        (
            one_model(serving={"mode": "sometimes"}),
            "models.circrna.serving.mode: 'sometimes' is not allowed; "
            "allowed values: on_demand, serverless, always_on",
        ),
        (
            one_model(serving={"idle_minutes": 0}),
            "models.circrna.serving.idle_minutes: must be from 1 to 1440",
        ),
        (
            one_model(serving={"idle_minutes": "15"}),
            "models.circrna.serving.idle_minutes: expected an integer",
        ),
        (
            one_model(serving={"idle_minutes": True}),
            "models.circrna.serving.idle_minutes: expected an integer",
        ),
        (
            one_model(serving={"idle_minutes": 5, "check_every_minutes": 10}),
            "models.circrna.serving.check_every_minutes: 10 exceeds idle_minutes 5",
        ),
        (
            one_model(serving={"max_wake_minutes": 2}),
            "models.circrna.serving.max_wake_minutes: must be from 5 to 240",
        ),
        (
            one_model(serving={"instance_type": "m5.large"}),
            "models.circrna.serving.instance_type: 'm5.large' is not",
        ),
        (
            one_model(serving={"mode": "serverless", "memory_mb": 1000}),
            "models.circrna.serving.memory_mb: 1000 is not allowed; "
            "allowed values: 1024, 2048, 3072, 4096, 5120, 6144",
        ),
        (
            one_model(
                serving={
                    "mode": "always_on",
                    "model_data": "s3://bucket/m.tar.gz",
                    "min_instances": 3,
                    "max_instances": 2,
                }
            ),
            "models.circrna.serving.min_instances: 3 exceeds max_instances 2",
        ),
        (
            one_model(serving={"mode": "always_on"}),
            "models.circrna.serving.model_data: required when mode is",
        ),
        (
            one_model(serving={"mode": "serverless"}),
            "models.circrna.serving.model_data: required when mode is",
        ),
        (
            one_model(serving={"model_data": "https://x/model.tar.gz"}),
            "models.circrna.serving.model_data: 'https://x/model.tar.gz' is not an s3:// URI",
        ),
        (one_model(training={"spot": "yes"}), "models.circrna.training.spot: expected true or false"),
        (
            one_model(training={"instance_count": 0}),
            "models.circrna.training.instance_count: must be from 1 to 16",
        ),
        (
            one_model(training={"spot": True, "max_runtime_minutes": 60, "max_wait_minutes": 30}),
            "models.circrna.training.max_wait_minutes: 30 is below max_runtime_minutes 60",
        ),
        (
            one_model(training={"hyperparameters": {"preset": "entailment"}}),
            "models.circrna.training.hyperparameters.preset: set by the pipeline",
        ),
        (
            one_model(training={"hyperparameters": {"Epochs": 3}}),
            "models.circrna.training.hyperparameters.Epochs: names are lowercase",
        ),
        (
            one_model(training={"hyperparameters": {"layers": [1, 2]}}),
            "models.circrna.training.hyperparameters.layers: expected a string, number or boolean",
        ),
        (
            one_model(training={"hyperparameters": {"batchsize": 8}}),
            "models.circrna.training.hyperparameters: unknown hyperparameter(s) --batchsize; known:",
        ),
        (
            one_model(training={"hyperparameters": {"epochs": "many"}}),
            "models.circrna.training.hyperparameters: argument --epochs: 'many' is not a number",
        ),
        (
            {
                "models": {
                    "notes": {
                        "preset": "medical-specialty",
                        "training": {"hyperparameters": {"hidden_size": 64}},
                    }
                }
            },
            "models.notes.training.hyperparameters: hyperparameter(s) hidden_size apply to models",
        ),
        (
            {**one_model(), "api": {"auth": "oauth"}},
            "api.auth: 'oauth' is not allowed; allowed values: api_key, iam",
        ),
        (
            {**one_model(), "api": {"burst": 10, "rate_limit_rps": 50}},
            "api.burst: 10 is below rate_limit_rps 50",
        ),
        ({**one_model(), "api": {"cors_origins": []}}, "api.cors_origins: expected a non-empty list"),
        ({**one_model(), "api": {"keys": 1}}, "api.keys: unknown key; allowed keys: auth, rate_limit_rps"),
        ({**one_model(), "env": {"account": "12"}}, "env.account: '12' is not a 12-digit AWS account id"),
        ({**one_model(), "env": {"region": "mars"}}, "env.region: 'mars' is not an AWS region name"),
        ({**one_model(), "prefix": "9lives"}, "prefix: '9lives' is not 1-20 letters"),
        ({**one_model(), "notify_email": "ops"}, "notify_email: 'ops' is not an email address"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(context, message):
    with pytest.raises(ConfigError) as raised:
        parse_deployment(context)
    assert str(raised.value).startswith(message)


def _load_app_module():
    spec = importlib.util.spec_from_file_location("seqserve_cdk_app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_py_fails_synth_with_the_key_and_allowed_values(tmp_path):
    import aws_cdk as cdk

    bad = {"models": {"circrna": {"preset": "circrna", "serving": {"mode": "x"}}}}
    app = cdk.App(context=bad, outdir=str(tmp_path))
    with pytest.raises(SystemExit) as raised:
        _load_app_module().synth(app)
    message = str(raised.value.code)
    assert message.startswith("seqserve: bad deployment config in cdk.json context:")
    assert (
        "models.circrna.serving.mode: 'x' is not allowed; allowed values: on_demand, serverless, always_on"
        in (message)
    )
    assert not list(tmp_path.iterdir()), "nothing is synthesized from a bad config"
