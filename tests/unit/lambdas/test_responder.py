"""Who answers a prediction (issue 21): the choice alone, the serving-function call, and the route."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from lambdas_testkit import MODELS, PREDICTION, START, call

BODY = json.dumps({"inputs": ["ACGUACGU"], "parameters": {"top_k": 1}})
FUNCTION = "seqserve-circrna-serving"
SMALL_FUNCTION = "seqserve-small-serving"
LAMBDA_ANSWER = [{"label": "circRNA", "score": 0.9000004}]


# --- the choice, alone ---------------------------------------------------------------------------


def choice(**situation: Any) -> tuple[str, ...]:
    from invoker.responder import Situation, who_answers

    defaults = {"mode": "on_demand", "has_function": True}
    return tuple(a.value for a in who_answers(Situation(**{**defaults, **situation})))


def test_the_endpoint_answers_first_whatever_the_bridge():
    assert choice() == ("endpoint",)
    assert choice(has_function=False, can_hold=True) == ("endpoint",)
    assert choice(mode="always_on") == ("endpoint",)


def test_a_down_on_demand_endpoint_is_bridged_by_the_function_then_held_then_503():
    assert choice(endpoint_down=True, can_hold=True) == ("lambda", "hold", "unavailable")
    assert choice(endpoint_down=True) == ("lambda", "unavailable")
    assert choice(endpoint_down=True, has_function=False, can_hold=True) == ("hold", "unavailable")
    assert choice(endpoint_down=True, has_function=False) == ("unavailable",)


def test_endpoints_cloudformation_owns_are_never_bridged():
    for mode in ("serverless", "always_on"):
        assert choice(mode=mode, endpoint_down=True, can_hold=True) == ("unavailable",)


def test_lambda_mode_is_served_by_the_function_only_even_when_async_is_preferred():
    assert choice(mode="lambda") == ("lambda", "unavailable")
    assert choice(mode="lambda", respond_async=True, can_hold=True) == ("lambda", "unavailable")


def test_respond_async_queues_any_endpoint_model():
    assert choice(respond_async=True) == ("queue",)
    assert choice(mode="always_on", respond_async=True) == ("queue",)


# --- the serving function's answers ------------------------------------------------------------------


def stubbed_lambda() -> tuple[Any, Stubber]:
    client = boto3.client("lambda", region_name="us-east-1")
    return client, Stubber(client)


def expect(
    stub: Stubber, *, status: int = 200, body: object = LAMBDA_ANSWER, function_error: str | None = None
):
    answer = {"status": status, "body": json.dumps(body), "content_type": "application/json"}
    response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}
    if function_error:
        response["FunctionError"] = function_error
        response["Payload"] = io.BytesIO(
            b'{"errorMessage": "Runtime exited", "errorType": "Runtime.ExitError"}'
        )
    event = {"body": BODY, "content_type": "application/json"}
    stub.add_response(
        "invoke",
        response,
        {
            "FunctionName": FUNCTION,
            "InvocationType": "RequestResponse",
            "Payload": json.dumps(event).encode(),
        },
    )


def function_answer(client: Any) -> str | None:
    from aws_lambda_powertools import Logger
    from invoker.function_call import call_function

    return call_function(client, model="circrna", function=FUNCTION, body=BODY.encode(), logger=Logger())


def test_the_function_gets_the_endpoint_body_and_its_200_body_is_the_answer():
    client, stub = stubbed_lambda()
    expect(stub)
    with stub:
        assert json.loads(function_answer(client)) == LAMBDA_ANSWER
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("status", [400, 502])
def test_the_functions_400_and_502_reach_the_client_as_the_endpoints_would(status):
    from invoker.endpoint_call import ModelAnswered

    client, stub = stubbed_lambda()
    error = {"error": {"code": "invalid_input", "message": "inputs[0]: invalid character 'X' at 3"}}
    expect(stub, status=status, body=error)
    with stub, pytest.raises(ModelAnswered) as raised:
        function_answer(client)
    assert (raised.value.status, raised.value.code, raised.value.message) == (
        status,
        "invalid_input",
        "inputs[0]: invalid character 'X' at 3",
    )


def test_a_function_error_means_it_could_not_answer():
    client, stub = stubbed_lambda()
    expect(stub, function_error="Unhandled")
    with stub:
        assert function_answer(client) is None


def test_throttling_means_it_could_not_answer():
    client, stub = stubbed_lambda()
    stub.add_client_error("invoke", "TooManyRequestsException", "Rate exceeded", http_status_code=429)
    with stub:
        assert function_answer(client) is None


def test_a_read_timeout_means_it_could_not_answer():
    client = FakeLambda(fault=ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com"))
    assert function_answer(client) is None


def test_an_answer_outside_the_contract_means_it_could_not_answer():
    client = FakeLambda(answer=lambda event: {"statusCode": 200, "body": "[]"})
    assert function_answer(client) is None


# --- through the predict route ------------------------------------------------------------------------


class FakeLambda:
    """The lambda client's Invoke, answering for the serving functions like lambdas/model_server."""

    def __init__(
        self,
        *,
        answer: Callable[[dict], dict] | None = None,
        fault: Exception | None = None,
        function_error: str | None = None,
    ) -> None:
        self.answer = answer or (lambda event: {"status": 200, "body": json.dumps(LAMBDA_ANSWER)})
        self.fault = fault
        self.function_error = function_error
        self.calls: list[tuple[str, dict]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict:
        assert InvocationType == "RequestResponse"
        event = json.loads(Payload)
        self.calls.append((FunctionName, event))
        if self.fault is not None:
            raise self.fault
        response = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.answer(event)).encode())}
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


@pytest.fixture
def bridged(aws, runtime, clock, environ) -> Callable[..., Any]:
    """An invoker whose circrna has a serving function (the bridge), plus a lambda-mode model."""
    from aws_lambda_powertools import Logger
    from invoker.app import build_app
    from seqserve_common.settings import parse_settings

    models = {
        **MODELS,
        "circrna": {**MODELS["circrna"], "serving_function": FUNCTION},
        "small": {
            "preset": "circrna",
            "mode": "lambda",
            "serving_function": SMALL_FUNCTION,
            "idle_minutes": 15,
        },
    }

    def make(lambda_client: Any) -> Any:
        return build_app(
            settings=parse_settings({**environ, "MODELS": json.dumps(models)}),
            runtime=runtime.client,
            sagemaker=aws.sagemaker,
            dynamodb=aws.dynamodb,
            lambda_client=lambda_client,
            clock=clock,
            logger=Logger(),
        )

    return make


def predict(app: Any, model: str = "circrna"):
    return call(app, "POST", f"/models/{model}/predict", BODY)


def test_asleep_with_the_bridge_the_function_answers_while_the_endpoint_wakes(aws, bridged):
    functions = FakeLambda()
    answer = predict(bridged(functions))
    assert (answer.status, answer.body, answer.headers["x-served-by"]) == (200, LAMBDA_ANSWER, "lambda")
    assert functions.calls == [(FUNCTION, {"body": BODY, "content_type": "application/json"})]
    # The wake started as without the bridge, and the use counts for the idle clock.
    assert aws.created == ["circrna-endpoint"]
    assert aws.state_of("circrna") == "waking"
    assert float(aws.item("circrna")["last_invoked_at"]["N"]) == START


def test_once_in_service_the_endpoint_answers_and_the_function_is_not_called(aws, runtime, bridged):
    aws.create_endpoint("circrna-endpoint")
    functions = FakeLambda()
    answer = predict(bridged(functions))
    assert (answer.status, answer.body, answer.headers["x-served-by"]) == (200, PREDICTION, "endpoint")
    assert functions.calls == []
    assert runtime.bodies == [BODY.encode()]


@pytest.mark.parametrize(
    "functions",
    [
        FakeLambda(function_error="Unhandled"),
        FakeLambda(fault=ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com")),
    ],
    ids=["function-error", "timeout"],
)
def test_when_the_function_cannot_answer_the_client_gets_503_waking_with_retry_after(aws, bridged, functions):
    answer = predict(bridged(functions))
    assert (answer.status, answer.body["error"]["code"]) == (503, "waking")
    assert int(answer.headers["retry-after"]) > 0
    assert "x-served-by" not in answer.headers
    assert aws.created == ["circrna-endpoint"]


def test_a_model_without_a_function_keeps_the_503(aws, bridged):
    functions = FakeLambda()
    app = bridged(functions)
    answer = call(app, "POST", "/models/entailment/predict", BODY)
    # entailment has no configuration yet: the wake's 409 comes first, and no function is called.
    assert answer.status == 409
    assert functions.calls == []


def test_the_functions_400_is_the_clients_400_and_counts_as_use(aws, bridged):
    error = {"error": {"code": "invalid_input", "message": "inputs[0]: too long"}}
    functions = FakeLambda(answer=lambda event: {"status": 400, "body": json.dumps(error)})
    answer = predict(bridged(functions))
    assert (answer.status, answer.body) == (400, error)
    assert float(aws.item("circrna")["last_invoked_at"]["N"]) == START


def test_lambda_mode_serves_without_any_endpoint_or_state(aws, runtime, bridged):
    functions = FakeLambda()
    app = bridged(functions)
    answer = predict(app, "small")
    assert (answer.status, answer.body, answer.headers["x-served-by"]) == (200, LAMBDA_ANSWER, "lambda")
    assert functions.calls[0][0] == SMALL_FUNCTION
    assert runtime.bodies == [] and aws.created == []
    assert aws.state_of("small") is None
    status = call(app, "GET", "/models/small/status")
    assert (status.status, status.body["state"], status.body["serving_function"]) == (
        200,
        "awake",
        SMALL_FUNCTION,
    )


def test_lambda_mode_answers_async_requests_at_once(aws, bridged):
    from lambdas_testkit import Context, api_event

    event = api_event("POST", "/models/small/predict", BODY)
    event["headers"]["Prefer"] = "respond-async"
    response = bridged(FakeLambda()).resolve(event, Context())
    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["X-Served-By"] == ["lambda"]


def test_lambda_mode_whose_function_cannot_answer_is_503_unavailable(aws, bridged):
    answer = predict(bridged(FakeLambda(function_error="Unhandled")), "small")
    assert (answer.status, answer.body["error"]["code"]) == (503, "unavailable")
    assert int(answer.headers["retry-after"]) > 0
    assert aws.created == []


def test_a_lambda_mode_model_without_a_function_is_a_settings_error(environ):
    from seqserve_common.settings import SettingsError, parse_settings

    models = {"small": {"preset": "circrna", "mode": "lambda"}}
    with pytest.raises(SettingsError, match=r"MODELS\['small'\]\.serving_function is required"):
        parse_settings({**environ, "MODELS": json.dumps(models)})


def test_the_idle_check_ignores_lambda_mode_models(aws, clock, environ):
    from aws_lambda_powertools import Logger
    from idle_checker.checker import IdleChecker
    from seqserve_common.settings import parse_settings

    models = {**MODELS, "small": {"preset": "circrna", "mode": "lambda", "serving_function": SMALL_FUNCTION}}
    aws.put_state("small", state="asleep")
    checker = IdleChecker(
        settings=parse_settings({**environ, "MODELS": json.dumps(models)}),
        sagemaker=aws.sagemaker,
        dynamodb=aws.dynamodb,
        sns=aws.sns,
        clock=clock,
        logger=Logger(),
    )
    results = checker.run()
    assert "small" not in results and "circrna" in results
    assert aws.state_of("small") == "asleep" and aws.created == []
