"""Issue 13's serving keys: keep-warm windows, warm lead, lease bound, hourly price, checked at synth
and handed to the Lambdas through MODELS unchanged."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from stacks.config import ConfigError, parse_deployment
from stacks.lambda_environment import ServedModel, lambda_environment, operator_options

WINDOW = {"days": "mon-fri", "from": "08:00", "to": "18:00", "tz": "Europe/Berlin"}


def serving(**keys) -> dict:
    return {"models": {"circrna": {"preset": "circrna", "serving": keys}}}


def test_defaults_hold_nothing_up_and_invent_no_price():
    (model,) = parse_deployment(serving()).models
    assert model.serving.keep_warm == ()
    assert (model.serving.warm_lead_minutes, model.serving.max_lease_minutes) == (10, 720)
    assert model.serving.hourly_price is None


def test_windows_parse_into_the_serving_config():
    (model,) = parse_deployment(serving(keep_warm=[WINDOW], warm_lead_minutes=5, hourly_price=0.134)).models
    (window,) = model.serving.keep_warm
    assert window.label == "mon-fri 08:00-18:00 Europe/Berlin"
    assert (model.serving.warm_lead_minutes, model.serving.hourly_price) == (5, 0.134)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"keep_warm": [{**WINDOW, "days": "weekdays"}]}, "models.circrna.serving.keep_warm[0].days: "),
        ({"keep_warm": [{**WINDOW, "from": "8am"}]}, "models.circrna.serving.keep_warm[0].from: '8am'"),
        ({"keep_warm": [WINDOW, {**WINDOW, "to": "08:00"}]}, "models.circrna.serving.keep_warm[1].to: "),
        ({"keep_warm": [{**WINDOW, "tz": "CEST"}]}, "models.circrna.serving.keep_warm[0].tz: 'CEST' is not"),
        ({"keep_warm": WINDOW}, "models.circrna.serving.keep_warm: expected a list"),
        ({"warm_lead_minutes": -1}, "models.circrna.serving.warm_lead_minutes: must be from 0"),
        ({"max_lease_minutes": 0}, "models.circrna.serving.max_lease_minutes: must be from 1"),
        ({"hourly_price": "0.1"}, "models.circrna.serving.hourly_price: expected a positive number"),
        ({"hourly_price": 0}, "models.circrna.serving.hourly_price: expected a positive number"),
    ],
)
def test_bad_values_are_refused_naming_the_key(keys, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        parse_deployment(serving(**keys))


def test_windows_only_for_models_that_sleep():
    keys = {
        "mode": "always_on",
        "model_data": "s3://bucket-name/artifacts/model.tar.gz",
        "keep_warm": [WINDOW],
    }
    with pytest.raises(ConfigError, match=r"models\.circrna\.serving\.keep_warm: only an on_demand"):
        parse_deployment(serving(**keys))


def test_the_lambdas_read_the_same_windows_from_models():
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lambdas"))
    from seqserve_common.settings import parse_settings

    (model,) = parse_deployment(serving(keep_warm=[WINDOW], hourly_price=1.5, max_lease_minutes=60)).models
    served = ServedModel(
        name="circrna",
        preset="circrna",
        mode="on_demand",
        endpoint_name="e",
        endpoint_config_name=None,
        idle_minutes=15,
        **operator_options(model.serving),
    )
    environment = lambda_environment(
        table_name="t",
        models=[served],
        topic_arn="a",
        api=parse_deployment(serving()).api,
    )
    assert json.loads(environment["MODELS"])["circrna"]["keep_warm"] == [WINDOW]
    spec = parse_settings(environment).models["circrna"]
    assert [w.label for w in spec.keep_warm] == ["mon-fri 08:00-18:00 Europe/Berlin"]
    assert (spec.hourly_price, spec.max_lease_minutes, spec.warm_lead_minutes) == (1.5, 60, 10)
