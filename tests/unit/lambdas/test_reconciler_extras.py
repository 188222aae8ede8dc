"""The reconciler's quiet run, untracked endpoints, wake durations and the estimates built on them."""

from __future__ import annotations

import json

import pytest
from lambdas_testkit import START, call
from seqserve_common.lifecycle import (
    DEFAULT_WAKE_SECONDS,
    MAX_RETRY_AFTER,
    MIN_RETRY_AFTER,
    coalescing_seconds,
    estimated_wake_seconds,
)
from seqserve_common.settings import SettingsError, parse_settings
from seqserve_common.state import StateItem

ENDPOINT = "circrna-endpoint"


@pytest.fixture
def prefixed(environ):
    """The test models renamed so that every on-demand endpoint name starts with one prefix."""
    models = json.loads(environ["MODELS"])
    models["entailment"]["endpoint_name"] = "circrna-entailment-endpoint"
    return {**environ, "MODELS": json.dumps(models), "ENDPOINT_PREFIX": "circrna-"}


def test_a_run_while_everything_sleeps_only_reads(aws, make_checker):
    """README, "What idle costs": per model one GetItem and one DescribeEndpoint; no write."""
    checker = make_checker()
    calls: list[str] = []
    for client in (checker._sagemaker, checker._store._dynamodb):
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    try:
        assert set(checker.run().values()) == {"asleep"}
    finally:
        for client in (checker._sagemaker, checker._store._dynamodb):
            client.meta.events.unregister("before-call", lambda **_: None)
    assert sorted(calls) == sorted(["GetItem", "DescribeEndpoint"] * 2)


def test_endpoint_no_model_owns_is_adopted_then_deleted(aws, prefixed, clock, capsys):
    from aws_lambda_powertools import Logger
    from idle_checker.checker import IdleChecker

    checker = IdleChecker(
        settings=parse_settings(prefixed),
        sagemaker=aws.sagemaker,
        dynamodb=aws.dynamodb,
        sns=aws.sns,
        clock=clock,
        logger=Logger(),
    )
    aws.create_endpoint("circrna-removed-model")
    assert aws.endpoint_exists("circrna-removed-model")
    results = checker.run()
    assert results["untracked:circrna-removed-model"] == "awake"
    assert '"OrphansAdopted"' in capsys.readouterr().out
    clock.advance(15 * 60)
    checker.run()
    assert aws.endpoint_exists("circrna-removed-model")
    clock.advance(coalescing_seconds(15) + 1)
    checker.run()
    assert not aws.endpoint_exists("circrna-removed-model")
    checker.run()
    assert aws.item("untracked:circrna-removed-model") == {}


def test_endpoint_prefix_must_start_every_on_demand_endpoint_name(environ):
    with pytest.raises(SettingsError, match="ENDPOINT_PREFIX"):
        parse_settings({**environ, "ENDPOINT_PREFIX": "seqserve-"})


def test_wake_durations_are_recorded_bounded_and_drive_retry_after(aws, checker, invoker, clock):
    for index in range(12):
        aws.create_endpoint(ENDPOINT)
        aws.dynamodb.update_item(
            TableName="seqserve-state",
            Key={"model": {"S": "circrna"}},
            UpdateExpression="SET #s = :waking, state_changed_at = :at",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":waking": {"S": "waking"},
                ":at": {"N": repr(clock.now - (100 + index))},
            },
        )
        assert checker.run()["circrna"] == "awake"
        aws.sagemaker.delete_endpoint(EndpointName=ENDPOINT)
        clock.advance(10)
    samples = [float(s["N"]) for s in aws.item("circrna")["wake_seconds"]["L"]]
    assert samples == [100.0 + i for i in range(2, 12)]  # the newest ten, newest last
    status = call(invoker, "GET", "/models/circrna/status").body
    assert (status["state"], status["estimated_ready_at"]) == ("awake", None)


def test_retry_after_and_estimated_ready_at_follow_the_measured_wakes(aws, invoker, clock):
    aws.dynamodb.put_item(
        TableName="seqserve-state",
        Item={
            "model": {"S": "circrna"},
            "state": {"S": "waking"},
            "state_changed_at": {"N": repr(START - 20)},
            "wake_seconds": {"L": [{"N": "200"}, {"N": "240"}, {"N": "220"}]},
        },
    )
    status = call(invoker, "GET", "/models/circrna/status").body
    assert status["estimated_ready_at"] == START - 20 + 220
    wake = call(invoker, "POST", "/models/circrna/wake")
    assert (wake.status, wake.headers["retry-after"]) == (202, str(MAX_RETRY_AFTER))
    clock.advance(195)  # 5 s before the estimate
    predict = call(invoker, "POST", "/models/circrna/predict", json.dumps({"inputs": "ACGU"}))
    assert (predict.status, predict.headers["retry-after"]) == (503, str(MIN_RETRY_AFTER))


def test_estimate_has_a_default_before_the_first_wake_and_is_bounded():
    assert estimated_wake_seconds(StateItem(model="m")) == DEFAULT_WAKE_SECONDS
    assert estimated_wake_seconds(StateItem(model="m", wake_seconds=(1.0, 2.0))) == 30.0
    assert estimated_wake_seconds(StateItem(model="m", wake_seconds=(99999.0,))) == 1800.0
