"""The local stack's Lambda Invoke API (local/lambda_api.py) as boto3's lambda client and the invoker
see it: answers, function errors, timeouts and unknown functions, as Lambda gives them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.aws import CREDENTIALS, REGION
from local.lambda_api import create_app
from local.lambda_pool import LambdaError, LambdaTimeout
from local.stack import _HttpServer

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lambdas"))


class FakeFunction:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.events: list[dict] = []

    def invoke(self, event: dict) -> Any:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


ANSWER = {
    "status": 200,
    "body": json.dumps([{"label": "circRNA", "score": 0.9}]),
    "content_type": "application/json",
}
FUNCTIONS = {
    "ok": FakeFunction(ANSWER),
    "crashing": FakeFunction(LambdaError("the handler raised ValueError")),
    "slow": FakeFunction(LambdaTimeout("Task timed out after 25.00 seconds")),
}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    server = _HttpServer(app=create_app(functions=lambda: FUNCTIONS), name="lambda-test")
    server.start()
    try:
        yield boto3.client(
            "lambda",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
    finally:
        server.stop()


def test_a_synchronous_invoke_runs_the_function_with_the_event_and_returns_its_result(client):
    event = {"body": '{"inputs": ["ACGU"]}', "content_type": "application/json"}
    response = client.invoke(FunctionName="ok", InvocationType="RequestResponse", Payload=json.dumps(event))
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == ANSWER
    assert FUNCTIONS["ok"].events[-1] == event


def test_a_function_addressed_by_arn_is_found(client):
    arn = "arn:aws:lambda:us-east-1:123456789012:function:ok"
    assert json.loads(client.invoke(FunctionName=arn, Payload=b"{}")["Payload"].read()) == ANSWER


@pytest.mark.parametrize(("name", "kind"), [("crashing", "Runtime.Unhandled"), ("slow", "Sandbox.Timedout")])
def test_a_raise_or_a_timeout_is_a_function_error(client, name, kind):
    response = client.invoke(FunctionName=name, Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == kind


def test_an_unknown_function_is_resource_not_found(client):
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName="missing", Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_invoker_reads_the_local_answers_as_it_reads_lambdas(client, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "seqserve-test")
    from aws_lambda_powertools import Logger
    from invoker.function_call import call_function

    body = b'{"inputs": ["ACGU"]}'
    answer = call_function(client, model="circrna", function="ok", body=body, logger=Logger())
    assert json.loads(answer) == [{"label": "circRNA", "score": 0.9}]
    assert call_function(client, model="circrna", function="crashing", body=body, logger=Logger()) is None
    assert call_function(client, model="circrna", function="missing", body=body, logger=Logger()) is None
