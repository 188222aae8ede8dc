"""``--fault OPERATION:KIND:RATE``: parsing with clear errors, the plan a worker receives, the draws, and
each KIND's answer as the service's client parses it."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from local.faults import FaultError, FaultInjector, faults_from_argument, parse_fault, plan_argument


def test_an_operation_resolves_to_its_services_and_protocols() -> None:
    fault = parse_fault("CreateEndpoint:lost:0.5")
    assert (fault.operation, fault.kind, fault.rate) == ("CreateEndpoint", "lost", 0.5)
    # EventBridge has a CreateEndpoint too (global endpoints); the Lambdas never call it.
    assert fault.targets == (("sagemaker", "sagemaker", "json"), ("events", "eventbridge", "json"))
    assert parse_fault("InvokeEndpoint:timeout:1").targets == (
        ("sagemaker-runtime", "sagemaker-runtime", "rest-json"),
    )
    assert parse_fault("UpdateItem:throttle:0.1").targets == (("dynamodb", "dynamodb", "json"),)
    assert parse_fault("Publish:error:1").targets == (("sns", "sns", "query"),)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("CreateEndpoint:lost", "is not OPERATION:KIND:RATE"),
        ("CreateEndpoint:lost:0.5:9", "is not OPERATION:KIND:RATE"),
        ("CreateEndpoint:crash:0.5", "kind 'crash' is not one of throttle, error, timeout, lost"),
        ("CreateEndpoint:lost:half", "rate 'half' is not a number"),
        ("CreateEndpoint:lost:0", "rate 0 is not in (0, 1]"),
        ("CreateEndpoint:lost:1.5", "rate 1.5 is not in (0, 1]"),
        ("CreateEndpoint:lost:nan", "is not in (0, 1]"),
        ("CreateEndpont:lost:0.5", "'CreateEndpont' is not an operation of sagemaker"),
        (":lost:0.5", "'' is not an operation"),
    ],
)
def test_a_bad_value_is_an_error_naming_it_and_the_reason(value: str, reason: str) -> None:
    with pytest.raises(FaultError) as raised:
        parse_fault(value)
    assert f"--fault {value!r}" in str(raised.value)
    assert reason in str(raised.value)


def test_rates_of_one_operation_must_not_add_up_past_one() -> None:
    faults = [parse_fault("DeleteEndpoint:throttle:0.6"), parse_fault("DeleteEndpoint:error:0.5")]
    with pytest.raises(FaultError, match=r"the rates for DeleteEndpoint add up to 1\.1, more than 1"):
        plan_argument(faults, seed=None)
    with pytest.raises(FaultError, match="more than 1"):
        FaultInjector(faults, seed=None)


def test_the_plan_reaches_a_worker_unchanged() -> None:
    faults = [parse_fault("CreateEndpoint:lost:0.5"), parse_fault("GetItem:timeout:0.25")]
    assert faults_from_argument(plan_argument(faults, seed=3)) == (faults, 3)


def draws(injector: FaultInjector, operation: str, count: int) -> list[str | None]:
    return [getattr(injector._draw(operation), "kind", None) for _ in range(count)]


def test_draws_follow_the_rates_and_the_seed() -> None:
    faults = [parse_fault("CreateEndpoint:throttle:0.25"), parse_fault("CreateEndpoint:lost:0.5")]
    first = draws(FaultInjector(faults, seed=11), "CreateEndpoint", 4000)
    assert first == draws(FaultInjector(faults, seed=11), "CreateEndpoint", 4000)
    assert first != draws(FaultInjector(faults, seed=12), "CreateEndpoint", 4000)
    assert 0.22 < first.count("throttle") / 4000 < 0.28
    assert 0.47 < first.count("lost") / 4000 < 0.53
    assert draws(FaultInjector(faults, seed=11), "DeleteEndpoint", 100) == [None] * 100


@pytest.mark.parametrize(
    ("service", "fault", "call", "code", "status"),
    [
        (
            "sagemaker",
            "DescribeEndpoint:throttle:1",
            lambda c: c.describe_endpoint(EndpointName="e"),
            "ThrottlingException",
            400,
        ),
        (
            "sagemaker",
            "DescribeEndpoint:error:1",
            lambda c: c.describe_endpoint(EndpointName="e"),
            "InternalFailure",
            500,
        ),
        (
            "dynamodb",
            "GetItem:error:1",
            lambda c: c.get_item(TableName="t", Key={"k": {"S": "v"}}),
            "InternalServerError",
            500,
        ),
        (
            "sagemaker-runtime",
            "InvokeEndpoint:throttle:1",
            lambda c: c.invoke_endpoint(EndpointName="e", Body=b"{}"),
            "ThrottlingException",
            400,
        ),
        (
            "sns",
            "Publish:throttle:1",
            lambda c: c.publish(TopicArn="arn:aws:sns:us-east-1:123456789012:t", Message="m"),
            "Throttling",
            400,
        ),
        ("s3", "GetObject:throttle:1", lambda c: c.get_object(Bucket="b", Key="k"), "SlowDown", 503),
    ],
)
def test_throttles_and_5xx_are_the_services_own_errors(service, fault, call, code, status) -> None:
    # Nothing listens on the endpoint: the answer can only come from the hook.
    client = boto3.client(
        service,
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=boto3.session.Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    FaultInjector([parse_fault(fault)], seed=None).install(client.meta.events)
    with pytest.raises(ClientError) as raised:
        call(client)
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert "injected" in raised.value.response["Error"]["Message"]


def test_an_unfaulted_operation_is_sent_as_usual() -> None:
    client = boto3.client(
        "sagemaker",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=boto3.session.Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    FaultInjector([parse_fault("CreateEndpoint:error:1")], seed=None).install(client.meta.events)
    # Sent to the (closed) port, not answered by the hook.
    with pytest.raises(EndpointConnectionError):
        client.list_endpoints()
