"""Recording invocations: forward-only, coalesced per warm container, and never failing a prediction."""

from __future__ import annotations

import json

import boto3
from botocore.stub import Stubber
from lambdas_testkit import PREDICTION, REGION, START, TABLE, call
from seqserve_common.lifecycle import coalescing_seconds
from seqserve_common.state import StateStore

BODY = json.dumps({"inputs": "ACGUACGU"})


def stored(aws) -> float:
    return float(aws.item("circrna")["last_invoked_at"]["N"])


def test_out_of_order_writers_never_move_last_invoked_at_back(aws):
    """Invariant 2: a writer holding an older time loses to the newer one already stored."""
    store = StateStore(dynamodb=aws.dynamodb, table=TABLE)
    assert store.record_invocation("circrna", at=START + 30) is True
    assert store.record_invocation("circrna", at=START + 10) is False
    assert stored(aws) == START + 30
    assert store.record_invocation("circrna", at=START + 30) is False
    assert store.record_invocation("circrna", at=START + 31) is True
    assert stored(aws) == START + 31


def test_containers_with_skewed_times_keep_the_latest(aws, make_invoker, clock):
    aws.create_endpoint("circrna-endpoint")
    ahead, behind = make_invoker(), make_invoker()
    clock.now = START + 50
    assert call(ahead, "POST", "/models/circrna/predict", BODY).status == 200
    clock.now = START + 20
    assert call(behind, "POST", "/models/circrna/predict", BODY).status == 200
    assert stored(aws) == START + 50


def test_one_write_per_coalescing_interval_per_container(aws, invoker, clock):
    aws.create_endpoint("circrna-endpoint")
    interval = coalescing_seconds(15)
    assert interval == 60
    writes: list[float] = []
    for second in range(0, 180, 3):
        clock.now = START + second
        assert call(invoker, "POST", "/models/circrna/predict", BODY).status == 200
        if not writes or stored(aws) != writes[-1]:
            writes.append(stored(aws))
    assert writes == [START, START + 60, START + 120]


def test_failing_state_write_still_returns_the_prediction_and_is_retried(aws, make_invoker, clock):
    """Invariant 4: DynamoDB refusing the write is logged and counted, never a failed prediction."""
    aws.create_endpoint("circrna-endpoint")
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    app = make_invoker(dynamodb=dynamodb)
    with Stubber(dynamodb) as stubber:
        stubber.add_client_error(
            "update_item",
            service_error_code="ProvisionedThroughputExceededException",
            service_message="The level of configured provisioned throughput for the table was exceeded.",
            http_status_code=400,
        )
        answer = call(app, "POST", "/models/circrna/predict", BODY)
        stubber.assert_no_pending_responses()
    assert (answer.status, answer.body) == (200, PREDICTION)
    assert aws.item("circrna") == {}
    # The failure did not start a coalescing interval: the next request writes.
    clock.advance(1)
    assert call(app, "POST", "/models/circrna/predict", BODY).status == 200
    assert stored(aws) == START + 1


def test_access_denied_on_the_state_write_still_returns_the_prediction(aws, make_invoker):
    aws.create_endpoint("circrna-endpoint")
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    with Stubber(dynamodb) as stubber:
        stubber.add_client_error(
            "update_item", service_error_code="AccessDeniedException", http_status_code=400
        )
        answer = call(make_invoker(dynamodb=dynamodb), "POST", "/models/circrna/predict", BODY)
    assert (answer.status, answer.body) == (200, PREDICTION)
