"""The training pipeline's cleanup: old run-named models and configurations go, those in use stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools import Logger
from lambdas_testkit import TABLE
from pipeline_cleanup.cleanup import Cleanup, CleanupRequest, CleanupRequestError, Resource, stale

BASE = "seqserve-service-circrna"
ENDPOINT = BASE


def run(n: int) -> str:
    """A run name with a uuid that sorts like the run's creation order."""
    return f"{BASE}-{n:08x}-0000-4000-8000-000000000000"


def create_run(aws, name: str, *, config: bool = True) -> None:
    aws.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/seqserve:cpu-1"},
    )
    if config:
        aws.sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )


def names(aws) -> tuple[set[str], set[str]]:
    configs = {
        c["EndpointConfigName"]
        for c in aws.sagemaker.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]
    }
    models = {m["ModelName"] for m in aws.sagemaker.list_models(MaxResults=100)["Models"]}
    return configs, models


def cleanup(aws, keep: int = 3) -> dict[str, list[str]]:
    return Cleanup(sagemaker=aws.sagemaker, dynamodb=aws.dynamodb, table=TABLE, logger=Logger()).run(
        CleanupRequest(model="circrna", base=BASE, endpoint_name=ENDPOINT, keep=keep)
    )


def test_keeps_the_newest_and_those_in_use_and_deletes_the_rest(aws):
    create_run(aws, run(0), config=False)  # a run that failed after CreateModel
    for n in range(1, 7):
        create_run(aws, run(n))
    create_run(aws, f"{BASE}-cfn-model")  # not run-named: CloudFormation's, never touched
    create_run(aws, f"{BASE}x-{run(1)[len(BASE) + 1 :]}")  # another model whose base starts the same
    aws.put_state("circrna", state="asleep", endpoint_config_name=run(2))  # recorded: the next wake uses it
    aws.create_endpoint(ENDPOINT, config=run(1))  # the endpoint still runs the oldest

    deleted = cleanup(aws)

    assert deleted == {"deleted_endpoint_configs": [run(3)], "deleted_models": [run(3), run(0)]}
    configs, models = names(aws)
    assert {run(n) for n in (1, 2, 4, 5, 6)} <= configs and run(3) not in configs
    assert {run(n) for n in (1, 2, 4, 5, 6)} <= models and not {run(0), run(3)} & models
    assert {f"{BASE}-cfn-model", f"{BASE}x-{run(1)[len(BASE) + 1 :]}"} <= configs & models
    assert cleanup(aws) == {"deleted_endpoint_configs": [], "deleted_models": []}


def test_without_an_endpoint_only_the_recorded_configuration_is_protected(aws):
    for n in range(1, 5):
        create_run(aws, run(n))
    aws.put_state("circrna", state="asleep", endpoint_config_name=run(1))
    assert cleanup(aws, keep=1) == {
        "deleted_endpoint_configs": [run(3), run(2)],
        "deleted_models": [run(3), run(2)],
    }
    configs, models = names(aws)
    assert {run(1), run(4)} <= configs and {run(1), run(4)} <= models


def test_stale_orders_by_creation_time_not_name():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    # run(9) is the oldest here despite its name; run(5) the newest.
    resources = [Resource(name=run(9 - n), created=t0 + timedelta(hours=n)) for n in range(5)]
    assert stale(resources, base=BASE, keep=2, protected={run(8)}) == [run(7), run(9)]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event: expected an object"),
        ({"model": "circrna", "base": BASE, "endpoint_name": ENDPOINT, "keep": 0}, "event.keep"),
        ({"model": "circrna", "base": BASE, "endpoint_name": ENDPOINT, "keep": True}, "event.keep"),
        ({"model": "circrna", "base": "Bad Base", "endpoint_name": ENDPOINT, "keep": 3}, "event.base"),
        ({"model": "circrna", "base": BASE, "keep": 3}, "event.endpoint_name"),
        ({"base": BASE, "endpoint_name": ENDPOINT, "keep": 3}, "event.model"),
    ],
)
def test_a_bad_request_names_the_field(event, message):
    with pytest.raises(CleanupRequestError, match=message):
        CleanupRequest.parse(event)
