"""``Prefer: wait=N`` on predict: a request held for a waking model instead of an immediate 503."""

from __future__ import annotations

import json

import pytest
from invoker import prefer
from invoker.api_error import ApiError
from invoker.endpoint_call import EndpointDown
from lambdas_testkit import PREDICTION, Context, api_event, http_response

BODY = json.dumps({"inputs": "ACGUACGU"})
ENDPOINT = "circrna-endpoint"


def predict(app, prefer_header: str | None):
    event = api_event("POST", "/models/circrna/predict", BODY)
    if prefer_header is not None:
        event["headers"]["Prefer"] = prefer_header
    response = app.resolve(event, Context())
    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    headers.update(
        {key.lower(): values[-1] for key, values in (response.get("multiValueHeaders") or {}).items()}
    )
    return response["statusCode"], headers, json.loads(response["body"])


@pytest.fixture
def fast_polls(monkeypatch):
    monkeypatch.setattr(prefer, "POLL_SECONDS", 0.01)


def test_a_held_request_is_answered_once_the_model_is_up(aws, invoker, runtime, fast_polls):
    calls = []

    def answer(body):
        calls.append(body)
        if len(calls) <= 2:  # the container is still loading: SageMaker says the endpoint is not in service
            message = f"Endpoint {ENDPOINT} of account 123456789012 is not in service."
            return http_response(400, {"Message": message}, error_type="ValidationError")
        return http_response(200, PREDICTION)

    runtime.answer = answer
    status, _, body = predict(invoker, "wait=5")
    assert (status, body) == (200, PREDICTION)
    assert aws.created == [ENDPOINT] and len(calls) == 3
    assert aws.item("circrna").get("last_invoked_at") is not None


def test_without_prefer_a_sleeping_model_answers_503_at_once(aws, invoker):
    status, headers, body = predict(invoker, None)
    assert status == 503 and body["error"]["code"] == "waking" and "retry-after" in headers


def test_a_bad_wait_is_a_400_naming_it(aws, invoker):
    status, _, body = predict(invoker, "wait=soon")
    assert status == 400
    assert body["error"]["message"] == "Prefer: wait=soon is not a whole number of seconds (0 to 25)"
    assert aws.created == []


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("wait=10", 10), ("wait=30", 25), ("respond-async, wait=3", 3), ("handling=lenient", None), ("", None)],
)
def test_preferences(header, seconds):
    assert prefer.preferred_wait({"prefer": header}) == seconds
    assert prefer.preferred_wait(None) is None


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def down() -> str:
    raise EndpointDown("not in service")


def test_the_hold_ends_at_the_wait():
    clock = FakeTime()
    assert (
        prefer.hold(down, seconds=5, remaining_ms=None, sleep=clock.sleep, monotonic=lambda: clock.now)
        is None
    )
    assert clock.now == pytest.approx(5.0)


def test_the_hold_leaves_the_lambda_time_to_answer():
    clock = FakeTime()
    result = prefer.hold(
        down, seconds=25, remaining_ms=lambda: 12_000, sleep=clock.sleep, monotonic=lambda: clock.now
    )
    assert result is None and clock.now == pytest.approx(12.0 - prefer.RESERVE_SECONDS)


def test_a_model_error_while_held_is_the_clients_answer():
    def failing() -> str:
        raise ApiError(400, "invalid_input", "bad")

    with pytest.raises(ApiError):
        prefer.hold(failing, seconds=5, remaining_ms=None, sleep=lambda s: None)
