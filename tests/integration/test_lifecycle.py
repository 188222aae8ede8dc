"""The full cycle through the REST API: wake, predict, batch, bad input, status, sleep, wake again."""

from __future__ import annotations

import time

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from local.aws import CREDENTIALS, REGION
from local.stack import LocalStack

from .conftest import SEQUENCE, predict_until_awake

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OTHER = "GGCCTTAAGGCCTTAGCGCGATATCGCGTTAACCGGTTAACGCGATCGATGCATGCAAGC"


def endpoint_exists(stack: LocalStack) -> bool:
    names = [e["EndpointName"] for e in stack.client("sagemaker").list_endpoints()["Endpoints"]]
    return stack.deployment.models["circrna"].endpoint_name in names


def test_models_lists_the_served_model(api: httpx.Client) -> None:
    response = api.get("/models")
    assert response.status_code == 200
    assert [(m["model"], m["preset"]) for m in response.json()["models"]] == [("circrna", "circrna")]


def test_full_cycle(stack: LocalStack, api: httpx.Client) -> None:
    status = api.get("/models/circrna/status").json()
    assert status["state"] == "asleep"
    assert not endpoint_exists(stack)

    first = api.post("/models/circrna/predict", json={"inputs": SEQUENCE})
    assert first.status_code == 503
    assert first.json()["error"]["code"] == "waking"
    assert int(first.headers["retry-after"]) > 0
    assert endpoint_exists(stack)

    prediction = predict_until_awake(api)
    assert prediction.status_code == 200
    [answer] = prediction.json()
    assert answer["label"] in {"circRNA", "lncRNA"}
    assert 0.0 <= answer["score"] <= 1.0

    batch = api.post(
        "/models/circrna/predict", json={"inputs": [SEQUENCE, OTHER], "parameters": {"top_k": 2}}
    )
    assert batch.status_code == 200
    for ranked in batch.json():
        assert sorted(entry["label"] for entry in ranked) == ["circRNA", "lncRNA"]
        assert ranked[0]["score"] >= ranked[1]["score"]
    # The batch's best entry for SEQUENCE is the lone prediction: answers do not depend on the batch.
    assert batch.json()[0][0]["label"] == answer["label"]
    assert batch.json()[0][0]["score"] == pytest.approx(answer["score"], abs=1e-4)

    bad = api.post("/models/circrna/predict", json={"inputs": "HELLO, WORLD!"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_input"
    assert "inputs" in bad.json()["error"]["message"]

    deadline = time.monotonic() + 30
    while api.get("/models/circrna/status").json()["state"] != "awake":
        assert time.monotonic() < deadline, "the idle check never marked the endpoint awake"
        time.sleep(0.5)
    awake = api.get("/models/circrna/status").json()
    assert awake["idle_minutes"] == 1
    assert awake["last_invoked_at"] is not None

    # Idle for idle_minutes plus the invoker's write-coalescing slack, then one check period.
    deadline = time.monotonic() + 120
    while api.get("/models/circrna/status").json()["state"] != "asleep":
        assert time.monotonic() < deadline, "the idle model never fell asleep"
        time.sleep(1)
    assert not endpoint_exists(stack)
    assert stack.moto.calls.count("SageMaker.DeleteEndpoint") == 1

    again = api.post("/models/circrna/predict", json={"inputs": SEQUENCE})
    assert again.status_code == 503
    assert int(again.headers["retry-after"]) > 0
    assert predict_until_awake(api).json()[0]["label"] == answer["label"]
    assert stack.moto.calls.count("SageMaker.CreateEndpoint") == 2


def test_runtime_answers_a_missing_endpoint_as_sagemaker_does(stack: LocalStack) -> None:
    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=stack.runtime_url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="application/json", Body=b"{}")
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "ValidationError"
    assert error["Error"]["Message"] == "Endpoint no-such-endpoint of account 123456789012 not found."


def test_unknown_routes_answer_like_api_gateway(api: httpx.Client) -> None:
    for method, path in (("GET", "/nowhere"), ("DELETE", "/models/circrna/status")):
        response = api.request(method, path)
        assert response.status_code == 403
        assert response.json() == {
            "error": {"code": "client_error", "message": "Missing Authentication Token"}
        }


def test_unknown_model_is_404(api: httpx.Client) -> None:
    response = api.post("/models/nope/predict", json={"inputs": SEQUENCE})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_model"


def test_creating_an_existing_endpoint_is_refused_as_sagemaker_does(stack: LocalStack) -> None:
    sagemaker = stack.client("sagemaker")
    config = stack.deployment.models["circrna"].endpoint_config_name
    sagemaker.create_endpoint(EndpointName="twice", EndpointConfigName=config)
    try:
        with pytest.raises(ClientError) as raised:
            sagemaker.create_endpoint(EndpointName="twice", EndpointConfigName=config)
        assert raised.value.response["Error"]["Code"] == "ValidationException"
        assert "Cannot create already existing endpoint" in raised.value.response["Error"]["Message"]
    finally:
        sagemaker.delete_endpoint(EndpointName="twice")
