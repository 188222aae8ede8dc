"""Predict: what each SageMaker answer becomes for the client, and which ones wake the endpoint."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from lambdas_testkit import PREDICTION, START, call, http_response, model_error, raw_response

BODY = json.dumps({"inputs": ["ACGUACGU", "GGCCAAUU"], "parameters": {"top_k": 1}})
ENDPOINT = "circrna-endpoint"


def predict(app, model: str = "circrna", body: str = BODY):
    return call(app, "POST", f"/models/{model}/predict", body)


def test_prediction_passes_the_body_through_and_records_the_invocation(aws, runtime, invoker):
    aws.create_endpoint(ENDPOINT)
    answer = predict(invoker)
    assert (answer.status, answer.body) == (200, PREDICTION)
    assert runtime.bodies == [BODY.encode()]
    assert float(aws.item("circrna")["last_invoked_at"]["N"]) == START


def test_container_4xx_reaches_the_client_with_its_status_and_message(aws, runtime, invoker):
    aws.create_endpoint(ENDPOINT)
    container = {"error": {"code": "invalid_input", "message": "inputs[1]: invalid character 'X' at 3"}}
    runtime.answer = lambda body: model_error(400, json.dumps(container))
    answer = predict(invoker)
    assert (answer.status, answer.body) == (400, container)
    # The endpoint served the request, so the use counts against idleness.
    assert float(aws.item("circrna")["last_invoked_at"]["N"]) == START


@pytest.mark.parametrize("status", [413, 415, 406])
def test_other_container_4xx_keep_their_status(aws, runtime, invoker, status):
    aws.create_endpoint(ENDPOINT)
    runtime.answer = lambda body: model_error(status, json.dumps({"error": {"code": "c", "message": "m"}}))
    assert predict(invoker).status == status


def test_unstructured_container_4xx_is_wrapped_in_the_error_body(aws, runtime, invoker):
    aws.create_endpoint(ENDPOINT)
    runtime.answer = lambda body: model_error(400, "bad token")
    answer = predict(invoker)
    assert (answer.status, answer.body) == (400, {"error": {"code": "invalid_input", "message": "bad token"}})


def test_container_500_is_502_without_the_traceback(aws, runtime, invoker):
    aws.create_endpoint(ENDPOINT)
    runtime.answer = lambda body: model_error(500, 'Traceback (most recent call last):\n  File "x.py"')
    answer = predict(invoker)
    assert answer.status == 502
    assert answer.body["error"]["code"] == "model_error"
    assert "Traceback" not in answer.body["error"]["message"]
    assert aws.created == []


def test_non_json_answer_is_502(aws, runtime, invoker):
    aws.create_endpoint(ENDPOINT)
    runtime.answer = lambda body: raw_response(200, b"<html>oops</html>")
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (502, "model_error")


def test_answer_cut_short_is_502(aws, runtime, invoker):
    aws.create_endpoint(ENDPOINT)
    truncated = raw_response(200, b'[{"label": ')
    truncated.headers["Content-Length"] = "400"
    runtime.answer = lambda body: truncated
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (502, "model_error")


def test_timeout_is_504(aws, runtime, invoker):
    aws.create_endpoint(ENDPOINT)
    runtime.fault = ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com")
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (504, "model_timeout")
    assert aws.created == []


def test_container_timeout_reported_by_sagemaker_is_504(aws, runtime, invoker):
    aws.create_endpoint(ENDPOINT)
    message = "Your invocation timed out while waiting for a response from container primary."
    runtime.answer = lambda body: model_error(0, message)
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (504, "model_timeout")


def test_container_answering_its_own_timeout_is_504(aws, runtime, invoker):
    """model_code's server answers 504 model_timeout past SAGEMAKER_MODEL_SERVER_TIMEOUT."""
    aws.create_endpoint(ENDPOINT)
    original = json.dumps(
        {"error": {"code": "model_timeout", "message": "the model did not answer within 5 seconds"}}
    )
    runtime.answer = lambda body: model_error(504, original)
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (504, "model_timeout")


def test_unreachable_sagemaker_is_503_with_retry_after(aws, runtime, invoker):
    runtime.fault = ConnectTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com")
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (503, "unavailable")
    assert int(answer.headers["retry-after"]) > 0
    assert aws.created == []


@pytest.mark.parametrize(
    ("status", "error_type", "expected", "code"),
    [
        (400, "ThrottlingException", 429, "throttled"),
        (429, "ModelNotReadyException", 429, "throttled"),
        (500, "InternalFailure", 503, "unavailable"),
        (503, "ServiceUnavailable", 503, "unavailable"),
        (403, "AccessDeniedException", 502, "access_denied"),
    ],
)
def test_sagemaker_faults_are_never_taken_for_a_missing_endpoint(
    aws, runtime, invoker, status, error_type, expected, code
):
    """Invariant 5: throttling or AccessDenied must not wake (create) an endpoint that exists."""
    aws.put_state("circrna", state="asleep", state_changed_at=START - 100)
    runtime.fault = http_response(status, {"message": f"{error_type} from SageMaker"}, error_type=error_type)
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (expected, code)
    if expected in (429, 503):
        assert int(answer.headers["retry-after"]) > 0
    assert aws.created == []
    assert aws.state_of("circrna") == "asleep"


def test_missing_endpoint_wakes_it_and_answers_503_waking(aws, runtime, invoker):
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (503, "waking")
    assert int(answer.headers["retry-after"]) > 0
    assert aws.created == [ENDPOINT]
    assert aws.state_of("circrna") == "waking"
    assert runtime.bodies == []


def test_stale_awake_state_with_missing_endpoint_wakes_it(aws, runtime, invoker):
    aws.put_state("circrna", state="awake", state_changed_at=START - 60)
    assert predict(invoker).status == 503
    assert aws.created == [ENDPOINT]
    assert aws.state_of("circrna") == "waking"


def test_not_in_service_endpoint_answers_503_while_waking(aws, runtime, invoker):
    aws.put_state("circrna", state="waking", state_changed_at=START - 60)
    runtime.fault = http_response(
        400, {"message": "Endpoint circrna-endpoint is not in service."}, error_type="ValidationError"
    )
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (503, "waking")
    assert aws.created == []


def test_untrained_model_is_409_naming_the_model(aws, runtime, invoker):
    answer = predict(invoker, "entailment")
    assert answer.status == 409
    assert answer.body["error"]["code"] == "not_trained"
    assert "entailment" in answer.body["error"]["message"]
    assert "training run must finish" in answer.body["error"]["message"]
    assert aws.created == []
    assert aws.state_of("entailment") is None


def test_config_recorded_by_training_wins_over_the_deployed_one(aws, runtime, invoker):
    aws.sagemaker.create_endpoint_config(
        EndpointConfigName="entailment-config-2",
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": "circrna-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    aws.put_state("entailment", state="asleep", endpoint_config_name="entailment-config-2")
    assert predict(invoker, "entailment").status == 503
    described = aws.sagemaker.describe_endpoint(EndpointName="entailment-endpoint")
    assert described["EndpointConfigName"] == "entailment-config-2"


def test_failed_model_is_reported_not_recreated_by_predict(aws, runtime, invoker):
    aws.put_state("circrna", state="failed", state_changed_at=START - 60, failure_reason="out of capacity")
    answer = predict(invoker)
    assert (answer.status, answer.body["error"]["code"]) == (502, "endpoint_failed")
    assert "out of capacity" in answer.body["error"]["message"]
    assert aws.created == []


def test_always_on_model_is_not_woken(aws, runtime, invoker):
    answer = predict(invoker, "medical")
    assert (answer.status, answer.body["error"]["code"]) == (503, "unavailable")
    assert aws.created == []


def test_status_reports_the_state_item(aws, invoker):
    aws.put_state("circrna", state="awake", state_changed_at=START - 60, last_invoked_at=START - 5)
    answer = call(invoker, "GET", "/models/circrna/status")
    assert answer.status == 200
    assert answer.body["model"] == "circrna"
    assert answer.body["state"] == "awake"
    assert answer.body["last_invoked_at"] == START - 5
    assert answer.body["idle_minutes"] == 15


def test_status_of_a_model_without_item_is_asleep(aws, invoker):
    answer = call(invoker, "GET", "/models/circrna/status")
    assert (answer.body["state"], answer.body["last_invoked_at"]) == ("asleep", None)
