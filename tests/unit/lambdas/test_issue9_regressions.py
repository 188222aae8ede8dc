"""One focused test per defect of issue 9 ("Self-healing endpoint lifecycle"), each failing on the code
before the reconciler. Faults are injected with botocore event hooks or Stubber; endpoint statuses are
set in moto's backend, as SageMaker would report them."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from lambdas_testkit import REGION, START, call, http_response
from moto.sagemaker.models import sagemaker_backends
from seqserve_common.lifecycle import coalescing_seconds

ENDPOINT = "circrna-endpoint"
BODY = json.dumps({"inputs": "ACGUACGU"})
IDLE = 15 * 60
SLACK = coalescing_seconds(15)
ACCOUNT = "123456789012"


def set_status(name: str, status: str) -> None:
    sagemaker_backends[ACCOUNT][REGION].endpoints[name].endpoint_status = status


def fault(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (injected)"}}, operation)


def describe_answer(status: str) -> dict:
    return {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "EndpointStatus": status,
        "CreationTime": START,
        "LastModifiedTime": START,
    }


def already_existing(stubber: Stubber) -> None:
    stubber.add_client_error(
        "create_endpoint",
        service_error_code="ValidationException",
        service_message=f'Cannot create already existing endpoint "arn:aws:sagemaker:{REGION}:1:endpoint/x".',
    )


# 1. A wake whose Lambda stops (or whose create never reaches SageMaker) after the move to waking is
#    finished by the reconciler, and the schedule is never switched off.


def test_1_wake_that_never_reached_create_endpoint_is_finished_by_the_reconciler(
    aws, make_invoker, make_checker, clock
):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    aws.count_creates(sagemaker)

    def unreachable(**_):
        raise EndpointConnectionError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com")

    sagemaker.meta.events.register("before-call.sagemaker.CreateEndpoint", unreachable)
    answer = call(make_invoker(sagemaker=sagemaker), "POST", "/models/circrna/predict", BODY)
    assert answer.status == 503 and int(answer.headers["retry-after"]) > 0
    assert not aws.endpoint_exists(ENDPOINT)
    aws.created.clear()
    checker = make_checker()
    clock.advance(300)
    checker.run()
    assert aws.created == [ENDPOINT]  # created again, not silently asleep
    assert aws.state_of("circrna") == "waking"
    checker.run()
    assert aws.state_of("circrna") == "awake"
    clock.advance(IDLE + SLACK + 1)
    checker.run()
    assert not aws.endpoint_exists(ENDPOINT)


def test_1_the_schedule_stays_enabled_while_everything_sleeps(aws, checker):
    aws.events.put_rule(Name="seqserve-idle-check", ScheduleExpression="rate(5 minutes)", State="ENABLED")
    assert set(checker.run().values()) == {"asleep"}
    assert aws.events.describe_rule(Name="seqserve-idle-check")["State"] == "ENABLED"


# 2. CreateEndpoint answers with an unclear error although it created the endpoint.


@pytest.mark.parametrize("code", ["InternalFailure", "ServiceUnavailable", "ThrottlingException"])
def test_2_unclear_create_answer_leaves_no_unwatched_endpoint(aws, make_invoker, make_checker, clock, code):
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    def answer_lost(**_):
        raise fault(code, "CreateEndpoint")

    sagemaker.meta.events.register("after-call.sagemaker.CreateEndpoint", answer_lost)
    answer = call(make_invoker(sagemaker=sagemaker), "POST", "/models/circrna/predict", BODY)
    assert answer.status == 503
    assert aws.endpoint_exists(ENDPOINT)
    assert aws.state_of("circrna") in {"waking", "awake"}
    checker = make_checker()
    checker.run()
    assert aws.state_of("circrna") == "awake"
    clock.advance(IDLE + SLACK + 1)
    checker.run()
    assert not aws.endpoint_exists(ENDPOINT)


# 3. "sleeping" did not stop traffic: a failed delete, then requests, then a delete regardless.


def test_3_model_used_after_a_failed_delete_goes_back_to_awake(aws, invoker, make_checker, clock):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=START - 7200, last_invoked_at=START - 3600)
    sagemaker = boto3.client("sagemaker", region_name=REGION)

    def throttled(**_):
        raise fault("ThrottlingException", "DeleteEndpoint")

    sagemaker.meta.events.register("before-call.sagemaker.DeleteEndpoint", throttled)
    make_checker(sagemaker=sagemaker).run()
    assert aws.state_of("circrna") == "sleeping" and aws.endpoint_exists(ENDPOINT)
    clock.advance(30)
    assert call(invoker, "POST", "/models/circrna/predict", BODY).status == 200
    clock.advance(60)
    make_checker().run()
    assert aws.endpoint_exists(ENDPOINT)
    assert aws.state_of("circrna") == "awake"


def test_3_request_in_flight_while_the_check_runs_is_seen(aws, runtime, invoker, make_checker, clock):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=START - 7200, last_invoked_at=START - 3600)
    checker = make_checker()
    answer_before = runtime.answer

    def check_while_answering(body):
        checker.run()  # the reconciler runs while this request is inside the endpoint
        return answer_before(body)

    runtime.answer = check_while_answering
    assert call(invoker, "POST", "/models/circrna/predict", BODY).status == 200
    assert aws.endpoint_exists(ENDPOINT)
    assert aws.state_of("circrna") == "awake"


# 4. waking had no deadline once an endpoint existed.


@pytest.mark.parametrize("status", ["OutOfService", "Failed"])
def test_4_waking_with_a_broken_endpoint_takes_the_failure_path(aws, checker, status):
    aws.create_endpoint(ENDPOINT)
    set_status(ENDPOINT, status)
    aws.put_state("circrna", state="waking", state_changed_at=START - 60)
    assert checker.run()["circrna"] == "failed"
    assert not aws.endpoint_exists(ENDPOINT)
    assert len(aws.notifications()) == 1


def test_4_waking_past_max_wake_minutes_fails(aws, checker, clock):
    aws.create_endpoint(ENDPOINT)
    set_status(ENDPOINT, "Creating")
    aws.put_state("circrna", state="waking", state_changed_at=START - 60)
    assert checker.run()["circrna"] == "waking"
    clock.advance(31 * 60)
    assert checker.run()["circrna"] == "failed"
    assert not aws.endpoint_exists(ENDPOINT)


# 5. "already exists" was read as success whatever the existing endpoint's status.


def test_5_wake_while_the_old_endpoint_is_deleting_creates_once_it_is_gone(
    aws, make_invoker, make_checker, clock
):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stubber:
        already_existing(stubber)
        stubber.add_response("describe_endpoint", describe_answer("Deleting"), {"EndpointName": ENDPOINT})
        answer = call(make_invoker(sagemaker=sagemaker), "POST", "/models/circrna/wake")
    assert answer.status == 202
    # The old endpoint is gone now (moto has none); past the grace the reconciler creates it.
    clock.advance(300)
    make_checker().run()
    assert aws.created == [ENDPOINT]
    assert aws.state_of("circrna") == "waking"


def test_5_wake_while_the_old_endpoint_is_still_failed_is_not_reported_twice(aws, make_invoker, make_checker):
    aws.create_endpoint(ENDPOINT)
    set_status(ENDPOINT, "Failed")
    aws.put_state("circrna", state="failed", state_changed_at=START - 60, failure_reason="capacity")
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stubber:
        already_existing(stubber)
        stubber.add_response("describe_endpoint", describe_answer("Failed"), {"EndpointName": ENDPOINT})
        answer = call(make_invoker(sagemaker=sagemaker), "POST", "/models/circrna/wake")
    assert answer.status == 502
    make_checker().run()
    assert aws.state_of("circrna") == "failed"
    assert not aws.endpoint_exists(ENDPOINT)
    assert aws.notifications() == []  # that failure was reported when it happened


# 6. The checker deleted on a stale read.


def test_6_wake_between_the_checks_read_and_describe_keeps_the_new_endpoint(aws, invoker, make_checker):
    aws.put_state("circrna", state="sleeping", state_changed_at=START - 60)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    woken = []

    def wake_first(params, **_):
        if params.get("EndpointName") == ENDPOINT and not woken:
            woken.append(call(invoker, "POST", "/models/circrna/wake").status)

    sagemaker.meta.events.register("provide-client-params.sagemaker.DescribeEndpoint", wake_first)
    make_checker(sagemaker=sagemaker).run()
    assert woken == [202]
    assert aws.endpoint_exists(ENDPOINT)
    assert aws.state_of("circrna") == "waking"


# 7. Requests answered 429 or 504 were not activity.


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (http_response(400, {"message": "slow down"}, error_type="ThrottlingException"), 429),
        (ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com"), 504),
    ],
)
def test_7_throttled_and_timed_out_requests_keep_the_model_awake(
    aws, runtime, invoker, checker, clock, fault, expected
):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=START - 7200, last_invoked_at=START - 3600)
    runtime.fault = fault
    assert call(invoker, "POST", "/models/circrna/predict", BODY).status == expected
    clock.advance(60)
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)
