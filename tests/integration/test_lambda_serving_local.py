"""The Lambda-hosted model in the local stack (issue 21): the real handler in a Lambda worker, reading the
artifact the state table records from the embedded S3, as stacks/model_function.py deploys it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.sagemaker_timing import ManualClock
from local.stack import LocalStack

from .conftest import ENDPOINT_TIMES, SEQUENCE, endpoint_clock, stack_options

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The shared stack, with the bridge on (the default config's), so the model has its function."""
    options = stack_options(
        model_dir=trained_model,
        log_dir=tmp_path_factory.mktemp("stack-logs"),
        check_every_seconds=0.5,
        clock=ManualClock(),
        bridge=True,
    )
    with LocalStack(options) as running:
        yield running


def predict_until_the_endpoint_answers(stack: LocalStack, api: httpx.Client) -> httpx.Response:
    """Predict, moving the endpoints' clock, until the endpoint (not the bridge) answers."""
    deadline = time.monotonic() + 60
    while True:
        response = api.post("/models/circrna/predict", json={"inputs": SEQUENCE})
        assert response.status_code == 200, response.text
        if response.headers["x-served-by"] == "endpoint" or time.monotonic() > deadline:
            return response
        endpoint_clock(stack).advance(ENDPOINT_TIMES.create_seconds / 4)
        time.sleep(0.2)


def test_the_invokers_models_name_each_local_serving_function(stack: LocalStack) -> None:
    models = json.loads(stack.invoker.environment["MODELS"])
    assert models["circrna"]["serving_function"] == stack.model_functions["circrna"].name
    assert stack.model_functions["circrna"] in stack.functions


def test_the_function_answers_while_the_model_sleeps_as_the_endpoint_does_once_awake(
    stack: LocalStack, api: httpx.Client
) -> None:
    sagemaker = stack.client("sagemaker")
    endpoint = stack.deployment.models["circrna"].endpoint_name
    assert not sagemaker.list_endpoints(NameContains=endpoint)["Endpoints"], "the model must be asleep"
    inputs = [SEQUENCE, SEQUENCE[::-1], SEQUENCE[:20]]
    body = json.dumps({"inputs": inputs, "parameters": {"top_k": 2}})
    served = stack.model_functions["circrna"].invoke({"body": body, "content_type": "application/json"})
    assert served["status"] == 200 and served["content_type"] == "application/json", served
    assert predict_until_the_endpoint_answers(stack, api).headers["x-served-by"] == "endpoint"
    awake = api.post("/models/circrna/predict", json={"inputs": inputs, "parameters": {"top_k": 2}})
    assert awake.status_code == 200, awake.text
    assert awake.headers["x-served-by"] == "endpoint"
    for got, expected in zip(json.loads(served["body"]), awake.json(), strict=True):
        assert [e["label"] for e in got] == [e["label"] for e in expected]
        assert [e["score"] for e in got] == pytest.approx([e["score"] for e in expected], abs=TOLERANCE)


def test_bad_input_to_the_function_answers_400_in_the_apis_error_shape(stack: LocalStack) -> None:
    served = stack.model_functions["circrna"].invoke(
        {"body": '{"inputs": 7}', "content_type": "application/json"}
    )
    assert served["status"] == 400
    assert json.loads(served["body"])["error"]["code"] == "invalid_input"
