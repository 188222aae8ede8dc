"""The deployed entry points: environment parsing, module-level wiring, and client retry budgets."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
from lambdas_testkit import MODELS, TABLE, Context, api_event, http_response
from seqserve_common.clients import control_client, runtime_client
from seqserve_common.settings import SettingsError, parse_settings

GOOD = {"STATE_TABLE": TABLE, "MODELS": json.dumps(MODELS)}


def fresh_import(name: str):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.fixture
def deployed_env(aws, environ, monkeypatch):
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    return aws


def test_invoker_handler_serves_the_api_with_correlation_ids(deployed_env):
    module = fresh_import("invoker.handler")
    response = module.handler(api_event("POST", "/models/circrna/wake"), Context())
    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"model": "circrna", "state": "waking"}
    assert deployed_env.endpoint_exists("circrna-endpoint")
    # The request id of API Gateway's event becomes the logs' correlation id.
    assert module.logger.get_correlation_id() == "corr-123"


def test_idle_checker_handler_runs_the_check(deployed_env):
    module = fresh_import("idle_checker.handler")
    assert module.handler({"source": "aws.events"}, Context(function_name="idle-checker")) == {
        "circrna": "asleep",
        "entailment": "asleep",
    }


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"MODELS": GOOD["MODELS"]}, "STATE_TABLE"),
        ({"STATE_TABLE": TABLE}, "MODELS"),
        ({**GOOD, "MODELS": "{oops"}, "MODELS is not valid JSON"),
        ({**GOOD, "MODELS": "{}"}, "MODELS must be a non-empty"),
        ({**GOOD, "MODELS": json.dumps({"m": {"preset": "p", "mode": "x", "endpoint_name": "e"}})}, "mode"),
        ({**GOOD, "MODELS": json.dumps({"m": {"preset": "p", "mode": "on_demand"}})}, "endpoint_name"),
        (
            {
                **GOOD,
                "MODELS": json.dumps(
                    {"m": {"preset": "p", "mode": "on_demand", "endpoint_name": "e", "idle_minutes": 0}}
                ),
            },
            "idle_minutes",
        ),
        ({**GOOD, "MAX_INPUTS": "many"}, "MAX_INPUTS"),
        ({**GOOD, "MAX_BODY_BYTES": "-1"}, "MAX_BODY_BYTES"),
    ],
)
def test_bad_environment_is_refused_naming_the_variable(env, names):
    with pytest.raises(SettingsError, match=names):
        parse_settings(env)


def test_settings_defaults():
    settings = parse_settings(GOOD)
    assert settings.models["circrna"].endpoint_config_name == "circrna-config-1"
    assert settings.models["entailment"].endpoint_config_name is None
    assert (settings.endpoint_prefix, settings.notify_topic_arn) == (None, None)
    assert settings.models["circrna"].max_wake_minutes == 30


def count_attempts(client, operation: str, answer) -> list[int]:
    attempts: list[int] = []

    def send(**_):
        attempts.append(1)
        return answer

    client.meta.events.register_first(
        f"before-send.{client.meta.service_model.endpoint_prefix}.{operation}", send
    )
    return attempts


def test_endpoint_calls_are_not_retried_inside_the_api_deadline(aws):
    """A retry would double the wait; the client gets 429/503 with Retry-After instead."""
    client = runtime_client()
    throttled = http_response(400, {"message": "slow down"}, error_type="ThrottlingException")
    attempts = count_attempts(client, "InvokeEndpoint", throttled)
    with pytest.raises(client.exceptions.ClientError):
        client.invoke_endpoint(EndpointName="e", Body=b"{}", ContentType="application/json")
    assert len(attempts) == 1
    config = client.meta.config
    assert config.connect_timeout + config.read_timeout < 29


def test_reconciler_control_plane_calls_are_retried(aws):
    client = control_client("dynamodb")
    failure = http_response(
        500, {"__type": "InternalServerError", "message": "x"}, error_type="InternalServerError"
    )
    attempts = count_attempts(client, "GetItem", failure)
    with pytest.raises(client.exceptions.ClientError):
        client.get_item(TableName=TABLE, Key={"model": {"S": "circrna"}})
    assert len(attempts) == 3


def test_a_predictions_worst_case_fits_the_invokers_timeout():
    """Record the start, call the endpoint, record the answer: each client's connect + read timeouts,
    times its attempts, add up to less than the invoker's Lambda timeout (itself below API Gateway's 29 s)."""
    from seqserve_common.clients import INVOKER_CONTROL_CONFIG, RECORD_CONFIG, RUNTIME_CONFIG

    from stacks.lambda_environment import INVOKER_TIMEOUT_SECONDS

    def worst(config) -> float:
        return (config.connect_timeout + config.read_timeout) * config.retries["total_max_attempts"]

    assert worst(RECORD_CONFIG) * 2 + worst(RUNTIME_CONFIG) < INVOKER_TIMEOUT_SECONDS < 29
    # The wake path's five control-plane calls after the endpoint said "not found".
    assert worst(RECORD_CONFIG) + 5 * worst(INVOKER_CONTROL_CONFIG) < INVOKER_TIMEOUT_SECONDS
