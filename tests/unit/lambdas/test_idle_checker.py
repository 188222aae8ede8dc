"""The reconciler: each lifecycle step, overlap safety and its metrics."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from lambdas_testkit import REGION, START, call
from seqserve_common.lifecycle import coalescing_seconds

ENDPOINT = "circrna-endpoint"
IDLE = 15 * 60


def describe_answer(status: str, reason: str | None = None) -> dict:
    answer = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}",
        "EndpointStatus": status,
        "CreationTime": START,
        "LastModifiedTime": START,
    }
    if reason:
        answer["FailureReason"] = reason
    return answer


@pytest.fixture
def stubbed_sagemaker():
    client = boto3.client("sagemaker", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def read_stale_once(run) -> None:
    """Make the run's first read of circrna return the item as it is now, as if read before others wrote."""
    stale = run._store.get("circrna")
    original = run._store.get
    reads = iter([stale])
    run._store.get = lambda model: (
        next(reads, None) or original(model) if model == "circrna" else original(model)
    )


def awake_since(aws, at: float, *, last_invoked_at: float | None = None) -> None:
    aws.create_endpoint(ENDPOINT)
    attributes = {"state": "awake", "state_changed_at": at}
    if last_invoked_at is not None:
        attributes["last_invoked_at"] = last_invoked_at
    aws.put_state("circrna", **attributes)


def test_endpoint_used_within_idle_minutes_survives_the_check(aws, checker, clock):
    """Invariant 3, with the clock at the worst moment: just under idle_minutes after the last use."""
    awake_since(aws, START - 3600, last_invoked_at=START)
    clock.now = START + IDLE - 1
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)
    # Within the coalescing slack past idle_minutes it still survives ...
    clock.now = START + IDLE + coalescing_seconds(15) - 1
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)
    # ... and once idle beyond both it is deleted.
    clock.now = START + IDLE + coalescing_seconds(15) + 1
    assert checker.run()["circrna"] == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)


def test_requests_through_the_invoker_keep_the_endpoint_alive(aws, make_invoker, checker, clock):
    """Invariant 3 end to end: steady use through one coalescing container is never cut off."""
    awake_since(aws, START)
    app = make_invoker()
    body = json.dumps({"inputs": "ACGU"})
    for second in range(0, 3 * IDLE, 20):
        clock.now = START + second
        assert call(app, "POST", "/models/circrna/predict", body).status == 200
        if second % 300 < 20:
            assert checker.run()["circrna"] == "awake"
    assert aws.created == []


def test_invocation_recorded_during_the_check_blocks_the_delete(aws, checker, clock):
    """The transition re-checks last_invoked_at, so a write after the check's read wins."""
    awake_since(aws, START - 3600, last_invoked_at=START - 3600)
    clock.now = START
    original_get = checker._store.get

    def get_then_invoker_writes(model):
        item = original_get(model)
        checker._store.record_invocation(model, at=START)
        return item

    checker._store.get = get_then_invoker_writes
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)


def test_idle_endpoint_is_deleted_and_then_recorded_asleep(aws, checker, clock):
    awake_since(aws, START - 7200, last_invoked_at=START - 3600)
    clock.now = START
    assert checker.run() == {"circrna": "sleeping", "entailment": "asleep"}
    assert aws.state_of("circrna") == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)
    clock.advance(300)
    assert checker.run() == {"circrna": "asleep", "entailment": "asleep"}
    assert aws.state_of("circrna") == "asleep"


def test_waking_and_in_service_becomes_awake(aws, checker, clock):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="waking", state_changed_at=START - 300)
    assert checker.run()["circrna"] == "awake"
    assert float(aws.item("circrna")["state_changed_at"]["N"]) == START


def test_waking_while_creating_stays_waking(aws, make_checker, stubbed_sagemaker):
    client, stubber = stubbed_sagemaker
    stubber.add_response("describe_endpoint", describe_answer("Creating"), {"EndpointName": ENDPOINT})
    stubber.add_response(
        "describe_endpoint",
        describe_answer("Creating") | {"EndpointName": "entailment-endpoint"},
        {"EndpointName": "entailment-endpoint"},
    )
    aws.put_state("circrna", state="waking", state_changed_at=START - 60)
    assert make_checker(sagemaker=client).run()["circrna"] == "waking"
    assert aws.state_of("circrna") == "waking"


def test_waking_without_an_endpoint_past_the_grace_creates_it_again(aws, checker, clock):
    aws.put_state("circrna", state="waking", state_changed_at=START - 30, create_attempts=1)
    assert checker.run()["circrna"] == "waking"
    assert aws.created == []
    clock.advance(600)
    assert checker.run()["circrna"] == "waking"
    assert aws.created == [ENDPOINT]
    assert aws.item("circrna")["create_attempts"]["N"] == "2"


def test_sleeping_while_deleting_waits(aws, make_checker, stubbed_sagemaker):
    client, stubber = stubbed_sagemaker
    stubber.add_response("describe_endpoint", describe_answer("Deleting"), {"EndpointName": ENDPOINT})
    stubber.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message="Could not find endpoint 'entailment-endpoint'.",
    )
    aws.put_state("circrna", state="sleeping", state_changed_at=START - 60)
    assert make_checker(sagemaker=client).run()["circrna"] == "sleeping"


def test_sleeping_with_the_endpoint_still_in_service_finishes_the_delete(aws, checker):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="sleeping", state_changed_at=START - 60)
    assert checker.run()["circrna"] == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)


def test_failed_endpoint_is_deleted_reported_and_not_retried(aws, make_checker, make_invoker, clock):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stubber:
        stubber.add_response(
            "describe_endpoint",
            describe_answer("Failed", "insufficient capacity"),
            {"EndpointName": ENDPOINT},
        )
        stubber.add_response("delete_endpoint", {}, {"EndpointName": ENDPOINT})
        stubber.add_client_error(
            "describe_endpoint",
            service_error_code="ValidationException",
            service_message="Could not find endpoint",
        )
        aws.put_state("circrna", state="waking", state_changed_at=START - 600)
        assert make_checker(sagemaker=sagemaker).run()["circrna"] == "failed"
        stubber.assert_no_pending_responses()
    item = aws.item("circrna")
    assert (item["state"]["S"], item["failure_reason"]["S"]) == ("failed", "insufficient capacity")
    [notice] = aws.notifications()
    assert (notice["model"], notice["state"], notice["reason"]) == (
        "circrna",
        "failed",
        "insufficient capacity",
    )
    # A later request reports the failure instead of creating the endpoint again.
    answer = call(make_invoker(), "POST", "/models/circrna/predict", json.dumps({"inputs": "ACGU"}))
    assert (answer.status, answer.body["error"]["code"]) == (502, "endpoint_failed")
    assert aws.created == []


def test_failure_is_reported_even_when_its_delete_fails_and_the_next_run_deletes(aws, make_checker):
    aws.put_state("circrna", state="awake", state_changed_at=START - 600)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stubber:
        stubber.add_response(
            "describe_endpoint", describe_answer("Failed", "bad image"), {"EndpointName": ENDPOINT}
        )
        stubber.add_client_error("delete_endpoint", service_error_code="ThrottlingException")
        stubber.add_response(
            "describe_endpoint", describe_answer("Failed", "bad image"), {"EndpointName": ENDPOINT}
        )
        stubber.add_response("delete_endpoint", {}, {"EndpointName": ENDPOINT})
        checker = make_checker(sagemaker=sagemaker)
        assert checker.run()["circrna"] != "failed"  # the run reports its error for this model
        [notice] = aws.notifications()
        assert (notice["state"], notice["reason"]) == ("failed", "bad image")
        assert aws.item("circrna")["state"]["S"] == "failed"
        assert checker.run()["circrna"] == "failed"
        stubber.assert_no_pending_responses()
    assert aws.notifications() == []  # the run that only finished the delete sent no second notice


def test_overlapping_runs_notify_a_failure_once(aws, make_checker):
    aws.put_state("circrna", state="awake", state_changed_at=START - 600)
    first, second = (
        boto3.client("sagemaker", region_name=REGION),
        boto3.client("sagemaker", region_name=REGION),
    )
    with Stubber(first) as one, Stubber(second) as two:
        for stubber in (one, two):
            stubber.add_response(
                "describe_endpoint", describe_answer("Failed", "bad image"), {"EndpointName": ENDPOINT}
            )
        one.add_response("delete_endpoint", {}, {"EndpointName": ENDPOINT})
        for stubber in (one, two):
            stubber.add_client_error(
                "describe_endpoint",
                service_error_code="ValidationException",
                service_message="Could not find endpoint",
            )
        run_one, run_two = make_checker(sagemaker=first), make_checker(sagemaker=second)
        # Both runs read "awake" before either writes.
        read_stale_once(run_two)
        assert run_one.run()["circrna"] == "failed"
        assert run_two.run()["circrna"] == "failed"
    assert len(aws.notifications()) == 1


def test_overlapping_idle_runs_delete_once_and_agree(aws, make_checker, clock):
    awake_since(aws, START - 7200, last_invoked_at=START - 3600)
    run_one, run_two = make_checker(), make_checker()
    read_stale_once(run_two)
    assert run_one.run()["circrna"] == "sleeping"
    # The second run read "awake" before the first wrote; its transition fails and it deletes nothing.
    assert run_two.run()["circrna"] == "sleeping"
    assert aws.state_of("circrna") == "sleeping"


def test_asleep_model_with_an_endpoint_is_adopted_as_awake_from_now(aws, checker, clock):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="asleep", state_changed_at=START - 7200)
    assert checker.run()["circrna"] == "awake"
    assert float(aws.item("circrna")["state_changed_at"]["N"]) == START
    assert aws.endpoint_exists(ENDPOINT)
    # Watched from now: idle-deleted once idle_minutes and the slack have passed.
    clock.advance(IDLE + coalescing_seconds(15) + 1)
    assert checker.run()["circrna"] == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)


def test_throttled_describe_is_an_error_not_a_missing_endpoint(aws, make_checker, stubbed_sagemaker):
    client, stubber = stubbed_sagemaker
    stubber.add_client_error(
        "describe_endpoint", service_error_code="ThrottlingException", http_status_code=400
    )
    stubber.add_client_error(
        "describe_endpoint", service_error_code="AccessDeniedException", http_status_code=400
    )
    aws.put_state("circrna", state="awake", state_changed_at=START - 7200)
    results = make_checker(sagemaker=client).run()
    assert results == {"circrna": "error", "entailment": "error"}
    assert aws.state_of("circrna") == "awake"


def test_sleep_emits_sleeps_and_minutes_awake(aws, checker, clock, capsys):
    """MinutesAwake adds the minutes since the previous run that saw the endpoint (interfaces.md #3)."""
    awake_since(aws, START - 7200, last_invoked_at=START - 10)
    checker.run()  # first sighting: counts from here
    clock.advance(IDLE + 120)
    capsys.readouterr()
    checker.run()
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    by_name = {m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: m for m in metrics}
    assert by_name["Sleeps"]["Sleeps"] == [1.0]
    assert by_name["MinutesAwake"]["MinutesAwake"] == [17.0]
    assert by_name["MinutesAwake"]["model"] == "circrna"
    assert by_name["Sleeps"]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "seqserve"
