"""Models whose endpoint CloudFormation owns (serverless, always_on): cold starts and their real state."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from lambdas_testkit import MODELS, TABLE, call, http_response

SERVERLESS = "proteins-endpoint"
MODELS_WITH_SERVERLESS = {
    **MODELS,
    "proteins": {
        "preset": "protein-localization",
        "mode": "serverless",
        "endpoint_name": SERVERLESS,
        "endpoint_config_name": "proteins-config",
        "idle_minutes": 15,
    },
}
BODY = json.dumps({"inputs": "MKTAYIAKQR"})


@pytest.fixture
def environ(aws) -> dict[str, str]:
    return {"STATE_TABLE": TABLE, "MODELS": json.dumps(MODELS_WITH_SERVERLESS)}


def test_serverless_cold_start_past_the_read_budget_is_503_with_retry_after(aws, runtime, invoker):
    aws.create_endpoint(SERVERLESS)
    runtime.fault = ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com")
    answer = call(invoker, "POST", "/models/proteins/predict", BODY)
    assert (answer.status, answer.body["error"]["code"]) == (503, "starting")
    assert int(answer.headers["retry-after"]) > 0
    # A serverless endpoint is never created or woken by the invoker.
    assert aws.created == []


def test_serverless_model_not_loaded_yet_is_503_with_retry_after(aws, runtime, invoker):
    aws.create_endpoint(SERVERLESS)
    runtime.fault = http_response(424, {"Message": "Model is not ready"}, error_type="ModelNotReadyException")
    answer = call(invoker, "POST", "/models/proteins/predict", BODY)
    assert (answer.status, answer.body["error"]["code"]) == (503, "starting")
    assert int(answer.headers["retry-after"]) > 0


def test_on_demand_timeout_stays_504(aws, runtime, invoker):
    aws.create_endpoint("circrna-endpoint")
    runtime.fault = ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com")
    answer = call(invoker, "POST", "/models/circrna/predict", BODY)
    assert answer.status == 504


def test_status_of_an_in_service_serverless_endpoint_is_awake(aws, invoker):
    aws.create_endpoint(SERVERLESS)
    answer = call(invoker, "GET", "/models/proteins/status")
    assert answer.status == 200
    assert (answer.body["state"], answer.body["endpoint_status"]) == ("awake", "InService")
    assert answer.body["mode"] == "serverless"


def test_status_of_a_missing_always_on_endpoint_is_asleep(aws, invoker):
    answer = call(invoker, "GET", "/models/medical/status")
    assert (answer.body["state"], answer.body["endpoint_status"]) == ("asleep", None)


class DescribedAs:
    """A SageMaker control plane whose endpoint is in one status (moto's are InService at once)."""

    def __init__(self, status: str, failure_reason: str | None = None) -> None:
        self.status, self.failure_reason = status, failure_reason

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        answer = {"EndpointName": EndpointName, "EndpointStatus": self.status}
        if self.failure_reason:
            answer["FailureReason"] = self.failure_reason
        return answer


@pytest.mark.parametrize(
    ("status", "state"),
    [("Creating", "waking"), ("Updating", "awake"), ("Deleting", "sleeping"), ("Failed", "failed")],
)
def test_status_follows_the_endpoint(aws, make_invoker, status, state):
    reason = "image not found" if status == "Failed" else None
    invoker = make_invoker(sagemaker=DescribedAs(status, reason))
    answer = call(invoker, "GET", "/models/medical/status")
    assert (answer.status, answer.body["state"], answer.body["failure_reason"]) == (200, state, reason)


def test_status_when_sagemaker_throttles_is_503_not_asleep(aws, make_invoker):
    class Throttled:
        def describe_endpoint(self, **_: Any) -> dict[str, Any]:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "DescribeEndpoint"
            )

    answer = call(make_invoker(sagemaker=Throttled()), "GET", "/models/proteins/status")
    assert (answer.status, answer.body["error"]["code"]) == (503, "unavailable")
