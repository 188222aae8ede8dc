"""The Lambda-hosted model in the local stack (issue 21): the real handler in a Lambda worker, reading the
artifact the state table records from the embedded S3, as stacks/model_function.py deploys it."""

from __future__ import annotations

import json

import httpx
import pytest

from local.stack import LocalStack

from .conftest import SEQUENCE, predict_until_awake

TOLERANCE = 1e-4


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
    assert predict_until_awake(stack, api).status_code == 200
    awake = api.post("/models/circrna/predict", json={"inputs": inputs, "parameters": {"top_k": 2}})
    assert awake.status_code == 200, awake.text
    for got, expected in zip(json.loads(served["body"]), awake.json(), strict=True):
        assert [e["label"] for e in got] == [e["label"] for e in expected]
        assert [e["score"] for e in got] == pytest.approx([e["score"] for e in expected], abs=TOLERANCE)


def test_bad_input_to_the_function_answers_400_in_the_apis_error_shape(stack: LocalStack) -> None:
    served = stack.model_functions["circrna"].invoke(
        {"body": '{"inputs": 7}', "content_type": "application/json"}
    )
    assert served["status"] == 400
    assert json.loads(served["body"])["error"]["code"] == "invalid_input"
