"""The embedded moto server: each local stack starts from an empty AWS, as a fresh account would."""

from __future__ import annotations

import boto3
import pytest

from local.aws import CREDENTIALS, REGION, MotoServer

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
