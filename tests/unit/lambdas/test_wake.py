"""Wake on demand: race-safe, from the model's current configuration, never leaving a stranded state."""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from lambdas_testkit import OWN_TAGS, REGION, START, call
from moto.dynamodb.models import DynamoDBBackend

BODY = json.dumps({"inputs": "ACGUACGU"})
ENDPOINT = "circrna-endpoint"


@pytest.fixture
def atomic_item_writes(monkeypatch):
    """DynamoDB applies each single-item (conditional) write atomically; moto's in-process backend
    checks the condition and writes without a lock, so threads could both pass one condition.
    One lock around moto's item operations restores the service's guarantee, and nothing more."""
    lock = threading.Lock()
    for name in ("get_item", "put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


def test_twenty_concurrent_requests_on_a_sleeping_model_create_the_endpoint_once(
    aws, make_invoker, atomic_item_writes
):
    """Invariant 1: the conditional transition picks exactly one creator among concurrent wakes.

    The worst interleaving is forced: every request reads "asleep" before any of them writes.
    """
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    all_read = threading.Barrier(20, timeout=20)
    first_read = threading.local()

    def hold_first_read(**_) -> None:
        if not getattr(first_read, "done", False):
            first_read.done = True
            all_read.wait()

    dynamodb.meta.events.register("after-call.dynamodb.GetItem", hold_first_read)
    containers = [make_invoker(dynamodb=dynamodb) for _ in range(20)]
    start = threading.Barrier(len(containers))
    answers: list[int] = []

    def request(app) -> None:
        start.wait()
        answers.append(call(app, "POST", "/models/circrna/predict", BODY).status)

    threads = [threading.Thread(target=request, args=(app,)) for app in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [503] * 20
    assert aws.created == [ENDPOINT]
    assert aws.state_of("circrna") == "waking"


def test_wake_route_answers_202_while_waking_and_200_once_awake(aws, invoker):
    first = call(invoker, "POST", "/models/circrna/wake")
    assert (first.status, first.body) == (202, {"model": "circrna", "state": "waking"})
    assert int(first.headers["retry-after"]) > 0
    again = call(invoker, "POST", "/models/circrna/wake")
    assert (again.status, again.body["state"]) == (202, "waking")
    assert aws.created == [ENDPOINT]
    aws.put_state("circrna", state="awake", state_changed_at=START)
    awake = call(invoker, "POST", "/models/circrna/wake")
    assert (awake.status, awake.body) == (200, {"model": "circrna", "state": "awake"})
    assert aws.created == [ENDPOINT]


def test_wake_route_retries_a_failed_model_and_clears_the_reason(aws, invoker):
    aws.put_state("circrna", state="failed", state_changed_at=START - 60, failure_reason="capacity")
    assert call(invoker, "POST", "/models/circrna/wake").status == 202
    assert aws.created == [ENDPOINT]
    assert "failure_reason" not in aws.item("circrna")


def test_wake_of_an_always_on_model_is_409(aws, invoker):
    answer = call(invoker, "POST", "/models/medical/wake")
    assert (answer.status, answer.body["error"]["code"]) == (409, "not_on_demand")
    assert aws.created == []


def test_wake_of_an_untrained_model_is_409_not_trained(aws, invoker):
    answer = call(invoker, "POST", "/models/entailment/wake")
    assert (answer.status, answer.body["error"]["code"]) == (409, "not_trained")


def test_wake_while_the_idle_endpoint_is_still_deleting_asks_to_retry(aws, invoker):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="sleeping", state_changed_at=START - 30)
    answer = call(invoker, "POST", "/models/circrna/wake")
    assert (answer.status, answer.body["error"]["code"]) == (503, "sleeping")
    assert int(answer.headers["retry-after"]) > 0
    assert aws.created == []
    assert aws.state_of("circrna") == "sleeping"


def test_wake_that_loses_to_the_idle_checker_finishing_a_sleep_still_wakes(aws, make_invoker):
    """The checker moves sleeping -> asleep between this wake's read and its write: one retry wakes."""
    aws.put_state("circrna", state="sleeping", state_changed_at=START - 30)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    reads = []

    def checker_finishes_sleep(**_) -> None:
        reads.append(1)
        if len(reads) == 1:
            aws.put_state("circrna", state="asleep", state_changed_at=START)

    dynamodb.meta.events.register("after-call.dynamodb.GetItem", checker_finishes_sleep)
    answer = call(make_invoker(dynamodb=dynamodb), "POST", "/models/circrna/predict", BODY)
    assert (answer.status, answer.body["error"]["code"]) == (503, "waking")
    assert aws.created == [ENDPOINT]
    assert aws.state_of("circrna") == "waking"


def test_wake_once_the_idle_endpoint_is_gone_creates_it(aws, invoker):
    aws.put_state("circrna", state="sleeping", state_changed_at=START - 30)
    assert call(invoker, "POST", "/models/circrna/wake").status == 202
    assert aws.created == [ENDPOINT]
    assert aws.state_of("circrna") == "waking"


@pytest.fixture
def stubbed_sagemaker():
    client = boto3.client("sagemaker", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize("status", ["Creating", "InService", "Deleting"])
def test_endpoint_that_already_exists_counts_as_woken(aws, make_invoker, stubbed_sagemaker, status):
    """Creating/InService: the wake is under way; Deleting: the reconciler creates it once gone."""
    client, stubber = stubbed_sagemaker
    stubber.add_client_error(
        "create_endpoint",
        service_error_code="ValidationException",
        service_message=f'Cannot create already existing endpoint "arn:aws:sagemaker:{REGION}:1:endpoint/x".',
        expected_params={
            "EndpointName": ENDPOINT,
            "EndpointConfigName": "circrna-config-1",
            "Tags": OWN_TAGS,
        },
    )
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}",
            "EndpointStatus": status,
            "CreationTime": START,
            "LastModifiedTime": START,
        },
        {"EndpointName": ENDPOINT},
    )
    answer = call(make_invoker(sagemaker=client), "POST", "/models/circrna/wake")
    assert answer.status == 202
    assert aws.state_of("circrna") == "waking"


def test_create_refused_marks_the_model_failed_with_the_reason(aws, make_invoker, stubbed_sagemaker):
    client, stubber = stubbed_sagemaker
    stubber.add_client_error(
        "create_endpoint",
        service_error_code="ResourceLimitExceeded",
        service_message="ml.m5.large quota is 0",
    )
    answer = call(make_invoker(sagemaker=client), "POST", "/models/circrna/predict", BODY)
    assert (answer.status, answer.body["error"]["code"]) == (502, "wake_failed")
    assert "quota" in answer.body["error"]["message"]
    assert aws.state_of("circrna") == "failed"
    assert "ResourceLimitExceeded" in aws.item("circrna")["failure_reason"]["S"]


def test_throttled_create_stays_waking_for_the_reconciler_and_asks_to_retry(
    aws, make_invoker, stubbed_sagemaker
):
    """A throttled create may still have been made: the model stays waking (never silently asleep)."""
    client, stubber = stubbed_sagemaker
    stubber.add_client_error(
        "create_endpoint", service_error_code="ThrottlingException", http_status_code=400
    )
    answer = call(make_invoker(sagemaker=client), "POST", "/models/circrna/predict", BODY)
    assert (answer.status, answer.body["error"]["code"]) == (503, "waking")
    assert int(answer.headers["retry-after"]) > 0
    assert aws.state_of("circrna") == "waking"


def test_state_table_throttling_while_waking_is_503_not_500(aws, make_invoker):
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    with Stubber(dynamodb) as stubber:
        stubber.add_client_error(
            "get_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        answer = call(make_invoker(dynamodb=dynamodb), "POST", "/models/circrna/predict", BODY)
    assert (answer.status, answer.body["error"]["code"]) == (503, "unavailable")
    assert aws.created == []


def test_create_whose_answer_is_lost_leaves_the_model_waking(aws, make_invoker):
    """The endpoint may exist although CreateEndpoint timed out: the model stays waking, watched."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    def answer_lost(**_) -> None:
        raise ReadTimeoutError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com")

    sagemaker.meta.events.register("after-call.sagemaker.CreateEndpoint", answer_lost)
    answer = call(make_invoker(sagemaker=sagemaker), "POST", "/models/circrna/predict", BODY)
    assert (answer.status, answer.body["error"]["code"]) == (503, "waking")
    assert aws.endpoint_exists(ENDPOINT)
    assert aws.state_of("circrna") == "waking"
