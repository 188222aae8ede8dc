"""One focused test per defect of issue 18 handled here (1, 4, 5, 6, 7), each failing on the code before
the fix. Endpoint statuses are set in moto's backend, as SageMaker would report them; faults come from
botocore event hooks and Stubber."""

from __future__ import annotations

import json

import boto3
import pytest
from aws_lambda_powertools import Logger
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from idle_checker.checker import IdleChecker
from lambdas_testkit import DEPLOYMENT, REGION, START, call
from moto.sagemaker.models import sagemaker_backends
from seqserve_common.lifecycle import coalescing_seconds
from seqserve_common.settings import parse_settings

ENDPOINT = "circrna-endpoint"
OTHER = "entailment-endpoint"
ACCOUNT = "123456789012"
IDLE = 15 * 60
SLACK = coalescing_seconds(15)
BODY = json.dumps({"inputs": "ACGUACGU"})
EXISTING = f'Cannot create already existing endpoint "arn:aws:sagemaker:{REGION}:1:endpoint/x".'


def set_status(name: str, status: str) -> None:
    sagemaker_backends[ACCOUNT][REGION].endpoints[name].endpoint_status = status


def metrics(out: str) -> list[str]:
    return [
        json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
        for line in out.splitlines()
        if '"_aws"' in line
    ]


@pytest.fixture
def prefixed(environ):
    """Every on-demand endpoint name starts with "circrna-", so the untracked scan runs."""
    models = json.loads(environ["MODELS"])
    models["entailment"]["endpoint_name"] = "circrna-entailment-endpoint"
    return {**environ, "MODELS": json.dumps(models), "ENDPOINT_PREFIX": "circrna-"}


@pytest.fixture
def scanning_checker(aws, prefixed, clock):
    def make() -> IdleChecker:
        return IdleChecker(
            settings=parse_settings(prefixed),
            sagemaker=aws.sagemaker,
            dynamodb=aws.dynamodb,
            sns=aws.sns,
            clock=clock,
            logger=Logger(),
        )

    return make


def run_past_idle(checker, clock, runs: int = 3) -> None:
    for _ in range(runs):
        checker.run()
        clock.advance(IDLE + SLACK + 1)


# 1. Ownership: the reconciler adopted and deleted every endpoint with the prefix.


def test_1_another_deployments_endpoint_with_the_prefix_is_never_touched(aws, scanning_checker, clock):
    # The deployment "circrna-dev" shares the prefix "circrna-"; its endpoint carries its own tag.
    theirs = "circrna-dev-service-circrna"
    aws.create_endpoint(theirs, tags=[{"Key": "seqserve:deployment", "Value": "circrna-dev-service"}])
    checker = scanning_checker()
    run_past_idle(checker, clock)
    assert checker.run()[f"untracked:{theirs}"] == "ignored"
    assert aws.endpoint_exists(theirs)
    assert aws.item(f"untracked:{theirs}") == {}


def test_1_untagged_endpoint_with_the_prefix_is_reported_not_touched(
    aws, scanning_checker, clock, capsys, caplog
):
    aws.create_endpoint("circrna-handmade", tags=[])
    run_past_idle(scanning_checker(), clock)
    assert aws.endpoint_exists("circrna-handmade")
    assert "UnownedEndpoints" in metrics(capsys.readouterr().out)
    reports = [r for r in caplog.records if "reported, not touched" in r.getMessage()]
    assert reports and {r.endpoint for r in reports} == {"circrna-handmade"}


def test_1_own_tagged_endpoint_no_model_owns_is_still_adopted_and_deleted(aws, scanning_checker, clock):
    aws.create_endpoint("circrna-removed-model")  # tagged with this deployment
    run_past_idle(scanning_checker(), clock)
    assert not aws.endpoint_exists("circrna-removed-model")


def test_1_another_deployments_endpoint_costs_one_list_tags_per_warm_container(aws, scanning_checker, clock):
    aws.create_endpoint("circrna-dev-x", tags=[{"Key": "seqserve:deployment", "Value": "other"}])
    checker = scanning_checker()
    calls: list[str] = []
    record = lambda model, **_: calls.append(model.name)  # noqa: E731
    checker._sagemaker.meta.events.register("before-call", record)
    checker._store._dynamodb.meta.events.register("before-call", record)
    try:
        for _ in range(3):
            checker.run()
    finally:
        checker._sagemaker.meta.events.unregister("before-call", record)
        checker._store._dynamodb.meta.events.unregister("before-call", record)
    # Per run: each model's GetItem and DescribeEndpoint and the listing; the foreign endpoint's tags
    # once, and nothing else for it.
    assert calls.count("ListTags") == 1
    assert calls.count("GetItem") == 3 * 2 and calls.count("DescribeEndpoint") == 3 * 2


def test_1_asleep_model_whose_endpoint_is_not_this_deployments_is_not_adopted(aws, checker, clock, capsys):
    aws.create_endpoint(ENDPOINT, tags=[])
    for _ in range(3):
        assert checker.run()["circrna"] == "asleep"
        clock.advance(IDLE + SLACK + 1)
    assert aws.endpoint_exists(ENDPOINT)
    assert "UnownedEndpoints" in metrics(capsys.readouterr().out)


def test_1_the_reconciler_creates_endpoints_with_the_ownership_tag(aws, checker, clock):
    aws.put_state("circrna", state="waking", state_changed_at=START - 300, create_attempts=1)
    assert checker.run()["circrna"] == "waking"  # no endpoint past the grace: created again
    assert aws.tags_of(ENDPOINT) == {"seqserve:deployment": DEPLOYMENT}


def test_1_the_job_runner_creates_endpoints_with_the_ownership_tag(aws, environ, runtime, clock):
    from job_runner.runner import JobRunner

    environ.update({"JOBS_TABLE": "jobs", "JOBS_BUCKET": "bucket", "JOBS_QUEUE_URL": "https://queue"})
    runner = JobRunner(
        settings=parse_settings(environ),
        runtime=runtime.client,
        sagemaker=aws.sagemaker,
        dynamodb=aws.dynamodb,
        s3=None,
        sqs=None,
        clock=clock,
        logger=Logger(),
    )
    runner._wake(runner._settings.models["circrna"], endpoint_down=True)
    assert aws.tags_of(ENDPOINT) == {"seqserve:deployment": DEPLOYMENT}


# 4. Corrupt or foreign-shaped state items.


def test_4_unknown_state_value_is_repaired_from_the_endpoint(aws, checker, clock):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="hibernating", state_changed_at=START - 7200, last_invoked_at=START - 7200)
    assert checker.run()["circrna"] == "awake"
    item = aws.item("circrna")
    assert float(item["state_changed_at"]["N"]) == START
    # Watched from now like any awake model: idle-deleted after idle_minutes and the slack, not before.
    clock.advance(IDLE + SLACK + 1)
    assert checker.run()["circrna"] == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)


def test_4_unknown_state_without_an_endpoint_is_repaired_to_asleep(aws, checker):
    aws.put_state("circrna", state="hibernating", state_changed_at=START - 60)
    assert checker.run()["circrna"] == "asleep"
    assert aws.state_of("circrna") == "asleep"


def test_4_timestamp_with_more_than_3_decimals_does_not_stick_the_model(aws, checker):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=START - 7200.12345, last_invoked_at=START - 3600)
    assert checker.run()["circrna"] == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)


def test_4_wrong_typed_attribute_is_repaired_and_the_other_models_still_run(aws, checker, capsys):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=START - 7200, last_invoked_at="yesterday")
    aws.create_endpoint(OTHER)
    aws.put_state("entailment", state="awake", state_changed_at=START - 7200, last_invoked_at=START - 3600)
    results = checker.run()
    # Its last use is unknown: the idle timer restarts instead of deleting an endpoint maybe in use.
    assert results == {"circrna": "awake", "entailment": "sleeping"}
    assert float(aws.item("circrna")["last_invoked_at"]["N"]) == START
    assert aws.endpoint_exists(ENDPOINT) and not aws.endpoint_exists(OTHER)
    assert "StateRepairs" in metrics(capsys.readouterr().out)


def test_4_any_error_in_one_model_is_logged_with_its_key_and_the_others_still_run(
    aws, checker, clock, capsys, caplog
):
    aws.create_endpoint(OTHER)
    aws.put_state("entailment", state="awake", state_changed_at=START - 7200, last_invoked_at=START - 3600)
    store_get = checker._store.get

    def broken(model):
        if model == "circrna":
            raise TypeError("a bug")
        return store_get(model)

    checker._store.get = broken
    assert checker.run() == {"circrna": "error", "entailment": "sleeping"}
    assert "ReconcilerErrors" in metrics(capsys.readouterr().out)
    (logged,) = [r for r in caplog.records if r.getMessage() == "reconciling a model failed"]
    assert (logged.model, logged.key) == ("circrna", "circrna")


# 5. Every EndpointStatus has a defined action; RollingBack and UpdateRollbackFailed serve traffic.


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("InService", "awake"),
        ("Updating", "awake"),
        ("SystemUpdating", "awake"),
        ("RollingBack", "awake"),
        ("UpdateRollbackFailed", "awake"),
        ("Creating", "waking"),
        ("Deleting", "waking"),
        ("Failed", "failed"),
        ("OutOfService", "failed"),
    ],
)
def test_5_waking_meets_every_status(aws, checker, status, expected):
    aws.create_endpoint(ENDPOINT)
    set_status(ENDPOINT, status)
    aws.put_state("circrna", state="waking", state_changed_at=START - 60)
    assert checker.run()["circrna"] == expected


def test_5_updating_is_not_failed_at_the_wake_deadline(aws, checker):
    aws.create_endpoint(ENDPOINT)
    set_status(ENDPOINT, "Updating")
    aws.put_state("circrna", state="waking", state_changed_at=START - 31 * 60)
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)


@pytest.mark.parametrize("status", ["RollingBack", "UpdateRollbackFailed", "Updating", "SystemUpdating"])
def test_5_an_awake_model_in_use_whose_endpoint_serves_is_kept(aws, checker, status):
    aws.create_endpoint(ENDPOINT)
    set_status(ENDPOINT, status)
    aws.put_state("circrna", state="awake", state_changed_at=START - 7200, last_invoked_at=START - 60)
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)
    assert aws.notifications() == []


@pytest.mark.parametrize("status", ["RollingBack", "UpdateRollbackFailed"])
def test_5_invoker_wake_onto_an_endpoint_rolling_back_goes_on(aws, make_invoker, status):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stubber:
        stubber.add_client_error(
            "create_endpoint",
            service_error_code="ValidationException",
            service_message=EXISTING,
        )
        stubber.add_response(
            "describe_endpoint",
            {
                "EndpointName": ENDPOINT,
                "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
                "EndpointStatus": status,
                "CreationTime": START,
                "LastModifiedTime": START,
            },
        )
        answer = call(make_invoker(sagemaker=sagemaker), "POST", "/models/circrna/wake")
    assert answer.status == 202
    assert aws.state_of("circrna") == "waking"


# 6. The failure notice goes out exactly once, whoever sees the failure first.


def test_6_failure_seen_first_by_the_invoker_is_notified_once(aws, make_invoker, checker):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stubber:
        stubber.add_client_error(
            "create_endpoint", service_error_code="ResourceLimitExceeded", service_message="no capacity"
        )
        assert call(make_invoker(sagemaker=sagemaker), "POST", "/models/circrna/wake").status == 502
    assert aws.state_of("circrna") == "failed"
    checker.run()
    checker.run()
    notices = aws.notifications()
    assert len(notices) == 1
    assert "no capacity" in notices[0]["reason"]


def test_6_failure_seen_by_the_invoker_is_notified_even_when_woken_again_at_once(aws, make_invoker, checker):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stubber:
        stubber.add_client_error(
            "create_endpoint", service_error_code="ResourceLimitExceeded", service_message="no capacity"
        )
        assert call(make_invoker(sagemaker=sagemaker), "POST", "/models/circrna/wake").status == 502
    # The operator retries before the next check: the wake goes on, and the notice is still owed.
    assert call(make_invoker(), "POST", "/models/circrna/wake").status == 202
    checker.run()
    checker.run()
    notices = aws.notifications()
    assert len(notices) == 1 and "no capacity" in notices[0]["reason"]
    assert aws.state_of("circrna") == "awake"  # moto's endpoint is in service at once


def test_6_endpoint_failure_seen_first_by_a_request_is_notified_once(aws, make_invoker, checker):
    """The endpoint of an awake model failed; a request finds it before the reconciler does."""
    aws.put_state("circrna", state="awake", state_changed_at=START - 600, last_invoked_at=START - 60)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with Stubber(sagemaker) as stubber:
        stubber.add_client_error(
            "create_endpoint", service_error_code="ValidationException", service_message=EXISTING
        )
        stubber.add_response(
            "describe_endpoint",
            {
                "EndpointName": ENDPOINT,
                "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
                "EndpointStatus": "Failed",
                "FailureReason": "the container crashed",
                "CreationTime": START,
                "LastModifiedTime": START,
            },
        )
        assert call(make_invoker(sagemaker=sagemaker), "POST", "/models/circrna/predict", BODY).status == 502
    assert aws.state_of("circrna") == "failed"
    checker.run()
    checker.run()
    notices = aws.notifications()
    assert len(notices) == 1 and "the container crashed" in notices[0]["reason"]


def test_6_a_lost_answer_on_the_move_to_failed_still_sends_the_notice_once(aws, make_checker):
    aws.create_endpoint(ENDPOINT)
    set_status(ENDPOINT, "Failed")
    aws.put_state("circrna", state="waking", state_changed_at=START - 60)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    lost = []

    def lose_the_move_to_failed(params, **_):
        if not lost and params.get("ExpressionAttributeValues", {}).get(":to") == {"S": "failed"}:
            lost.append(params)

    def raise_after(http_response, parsed, model, **_):
        if lost and len(lost) == 1 and model.name == "UpdateItem":
            lost.append("raised")
            raise ReadTimeoutError(endpoint_url="https://dynamodb")

    dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", lose_the_move_to_failed)
    dynamodb.meta.events.register("after-call.dynamodb.UpdateItem", raise_after)
    assert make_checker(dynamodb=dynamodb).run()["circrna"] == "error"
    assert aws.state_of("circrna") == "failed"  # the write took effect; its answer was lost
    make_checker().run()
    make_checker().run()
    assert len(aws.notifications()) == 1


def test_6_a_notice_sns_did_not_take_is_sent_by_the_next_run(aws, make_checker):
    aws.create_endpoint(ENDPOINT)
    set_status(ENDPOINT, "Failed")
    aws.put_state("circrna", state="waking", state_changed_at=START - 60)
    sns = boto3.client("sns", region_name=REGION)
    with Stubber(sns) as stubber:
        stubber.add_client_error("publish", service_error_code="InternalError", http_status_code=500)
        checker = make_checker()
        checker._sns = sns
        assert checker.run()["circrna"] == "failed"
    assert aws.notifications() == []
    make_checker().run()
    make_checker().run()
    assert len(aws.notifications()) == 1


# 7. A waking item with no timestamps; a wake must count as use.


def test_7_waking_without_timestamps_meets_its_deadline(aws, checker, clock):
    aws.create_endpoint(ENDPOINT)
    set_status(ENDPOINT, "Creating")
    aws.put_state("circrna", state="waking")
    assert checker.run()["circrna"] == "waking"
    assert float(aws.item("circrna")["state_changed_at"]["N"]) == START
    clock.advance(31 * 60)
    assert checker.run()["circrna"] == "failed"
    assert not aws.endpoint_exists(ENDPOINT)


def test_7_waking_without_timestamps_or_endpoint_is_not_stuck(aws, checker):
    aws.put_state("circrna", state="waking")
    assert checker.run()["circrna"] == "asleep"


def test_7_wake_of_an_idle_awake_model_counts_as_use(aws, invoker, checker):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=START - 7200, last_invoked_at=START - 3600)
    assert call(invoker, "POST", "/models/circrna/wake").status == 200
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)
