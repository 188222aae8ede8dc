"""The embedded moto server: each local stack starts from an empty AWS, as a fresh account would, and
its endpoints take SageMaker's Creating and Deleting steps, on a clock the tests move."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from local.aws import ACCOUNT_ID, CREDENTIALS, REGION, MotoServer
from local.sagemaker_timing import EndpointTimes, ManualClock

pytestmark = pytest.mark.integration


def dynamodb(server: MotoServer):
    return boto3.client(
        "dynamodb",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def create_table(server: MotoServer) -> None:
    dynamodb(server).create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_a_server_started_after_another_in_this_process_starts_empty() -> None:
    # moto keeps its backends per process; the tests start one local stack per module.
    first = MotoServer()
    first.start()
    try:
        create_table(first)
    finally:
        first.stop()
    second = MotoServer()
    second.start()
    try:
        assert dynamodb(second).list_tables()["TableNames"] == []
        create_table(second)
    finally:
        second.stop()


def sagemaker(server: MotoServer):
    return boto3.client(
        "sagemaker",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def timed() -> Iterator[tuple[MotoServer, ManualClock]]:
    """A server whose endpoints take 3 s to create and 2 s to delete, on a clock the test moves."""
    clock = ManualClock()
    server = MotoServer(endpoint_times=EndpointTimes(create_seconds=3, delete_seconds=2), clock=clock)
    server.start()
    client = sagemaker(server)
    client.create_model(
        ModelName="model",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker",
        PrimaryContainer={"Image": "image", "ModelDataUrl": "s3://bucket/model.tar.gz"},
    )
    client.create_endpoint_config(
        EndpointConfigName="config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    try:
        yield server, clock
    finally:
        server.stop()


def status(client, name: str) -> str:
    return client.describe_endpoint(EndpointName=name)["EndpointStatus"]


def listed(client) -> dict[str, str]:
    return {e["EndpointName"]: e["EndpointStatus"] for e in client.list_endpoints()["Endpoints"]}


def error_of(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_an_endpoint_is_creating_then_in_service(timed: tuple[MotoServer, ManualClock]) -> None:
    server, clock = timed
    client = sagemaker(server)
    client.create_endpoint(EndpointName="ep", EndpointConfigName="config")
    assert status(client, "ep") == "Creating"
    clock.advance(2.9)
    assert listed(client) == {"ep": "Creating"}
    clock.advance(0.1)
    assert status(client, "ep") == "InService"
    assert listed(client) == {"ep": "InService"}


def test_an_endpoint_is_deleting_then_gone_and_holds_its_name_until_then(
    timed: tuple[MotoServer, ManualClock],
) -> None:
    server, clock = timed
    client = sagemaker(server)
    client.create_endpoint(EndpointName="ep", EndpointConfigName="config")
    clock.advance(3)
    client.delete_endpoint(EndpointName="ep")
    assert status(client, "ep") == "Deleting"
    assert listed(client) == {"ep": "Deleting"}
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/ep"
    create = lambda: client.create_endpoint(EndpointName="ep", EndpointConfigName="config")  # noqa: E731
    assert error_of(create) == ("ValidationException", f'Cannot create already existing endpoint "{arn}".')
    # A second delete while Deleting changes nothing: the endpoint goes when the first one is done.
    clock.advance(1)
    client.delete_endpoint(EndpointName="ep")
    clock.advance(1)
    assert listed(client) == {}
    missing = ("ValidationException", f'Could not find endpoint "{arn}".')
    assert error_of(lambda: client.describe_endpoint(EndpointName="ep")) == missing
    assert error_of(lambda: client.delete_endpoint(EndpointName="ep")) == missing
    create()
    assert status(client, "ep") == "Creating"
    assert server.calls.count("SageMaker.CreateEndpoint") == 3


def test_zero_seconds_is_sagemaker_without_waiting() -> None:
    server = MotoServer(endpoint_times=EndpointTimes(create_seconds=0, delete_seconds=0), clock=ManualClock())
    server.start()
    try:
        client = sagemaker(server)
        client.create_model(
            ModelName="model",
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker",
            PrimaryContainer={"Image": "image", "ModelDataUrl": "s3://bucket/model.tar.gz"},
        )
        client.create_endpoint_config(
            EndpointConfigName="config",
            ProductionVariants=[
                {"VariantName": "AllTraffic", "ModelName": "model", "InstanceType": "ml.m5.large"}
            ],
        )
        client.create_endpoint(EndpointName="ep", EndpointConfigName="config")
        assert status(client, "ep") == "InService"
        client.delete_endpoint(EndpointName="ep")
        assert listed(client) == {}
    finally:
        server.stop()


@pytest.mark.parametrize("value", [-1, float("nan"), "3"])
def test_endpoint_times_refuse_what_is_not_a_duration(value: object) -> None:
    with pytest.raises(ValueError, match="create_seconds must be a number of seconds >= 0"):
        EndpointTimes(create_seconds=value)  # type: ignore[arg-type]
