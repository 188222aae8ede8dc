"""Queued predictions: Prefer: respond-async, GET /jobs/{id}, the job runner, and Prefer: wait=N."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from lambdas_testkit import PREDICTION, REGION, START, TABLE, Context, api_event, model_error

BODY = json.dumps({"inputs": ["ACGUACGU"]})
ENDPOINT = "circrna-endpoint"
JOBS_TABLE = "seqserve-jobs"
BUCKET = "seqserve-data"


class TimedContext(Context):
    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@pytest.fixture
def jobs_aws(aws, environ) -> dict[str, Any]:
    """The jobs table, bucket and queue the CDK app deploys, and the environment naming them."""
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    aws.dynamodb.create_table(
        TableName=JOBS_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket=BUCKET)
    queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    environ.update({"JOBS_TABLE": JOBS_TABLE, "JOBS_BUCKET": BUCKET, "JOBS_QUEUE_URL": queue_url})
    return {"s3": s3, "sqs": sqs, "queue_url": queue_url}


@pytest.fixture
def app(aws, runtime, clock, environ, jobs_aws):
    from aws_lambda_powertools import Logger
    from invoker.app import build_app
    from seqserve_common.settings import parse_settings

    return build_app(
        settings=parse_settings(environ),
        runtime=runtime.client,
        sagemaker=aws.sagemaker,
        dynamodb=aws.dynamodb,
        clock=clock,
        logger=Logger(),
        s3=jobs_aws["s3"],
        sqs=jobs_aws["sqs"],
    )


def make_runner(aws, runtime, clock, environ, jobs_aws, *, sagemaker=None, max_attempts=3):
    from aws_lambda_powertools import Logger
    from job_runner.runner import Backoff, JobRunner
    from seqserve_common.settings import parse_settings

    return JobRunner(
        settings=parse_settings(environ),
        runtime=runtime.client,
        sagemaker=sagemaker or aws.sagemaker,
        dynamodb=aws.dynamodb,
        s3=jobs_aws["s3"],
        sqs=jobs_aws["sqs"],
        clock=clock,
        logger=Logger(),
        backoff=Backoff(first_seconds=5, max_seconds=20, max_attempts=max_attempts),
    )


@pytest.fixture
def runner(aws, runtime, clock, environ, jobs_aws):
    return make_runner(aws, runtime, clock, environ, jobs_aws)


def request(app, method: str, path: str, body: str | None = None, *, prefer: str | None = None):
    event = api_event(method, path, body)
    if prefer is not None:
        event["headers"]["Prefer"] = prefer
    response = app.resolve(event, TimedContext())
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ", ".join(values)
    return response["statusCode"], headers, json.loads(response["body"])


def submit(app, body: str = BODY, prefer: str = "respond-async") -> str:
    status, _, answer = request(app, "POST", "/models/circrna/predict", body, prefer=prefer)
    assert status == 202, answer
    return answer["id"]


def run_queue(runner, jobs_aws) -> dict[str, Any]:
    """One SQS delivery of every visible message through the handler's batch shape."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    messages = (
        jobs_aws["sqs"]
        .receive_message(QueueUrl=jobs_aws["queue_url"], MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m["Attributes"],
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
            "awsRegion": REGION,
        }
        for m in messages
    ]
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    answer = process_partial_response(
        event={"Records": records}, record_handler=runner.handle, processor=processor
    )
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    # As Lambda's event source mapping does: delete what the function did not report as failed.
    for message in messages:
        if message["MessageId"] not in failed:
            jobs_aws["sqs"].delete_message(
                QueueUrl=jobs_aws["queue_url"], ReceiptHandle=message["ReceiptHandle"]
            )
    return {"received": len(messages), "failed": failed, "messages": messages}


def pending_jobs(aws) -> int:
    """The open jobs holding circrna up: the holds on its state item."""
    return len(aws.item("circrna").get("open_jobs", {"SS": []})["SS"])


def test_async_predict_on_a_sleeping_model_queues_the_job_and_wakes_it_once(aws, app, jobs_aws):
    status, headers, body = request(app, "POST", "/models/circrna/predict", BODY, prefer="respond-async")
    assert status == 202
    # The event is API Gateway's stage URL (/prod): Location is the path the client must ask for.
    assert headers["location"] == body["location"] == f"/prod/jobs/{body['id']}"
    assert headers["preference-applied"] == "respond-async"
    assert body["state"] == "pending"
    stored = jobs_aws["s3"].get_object(Bucket=BUCKET, Key=f"jobs/{body['id']}/input.json")["Body"].read()
    assert stored == BODY.encode()
    item = aws.dynamodb.get_item(TableName=JOBS_TABLE, Key={"id": {"S": body["id"]}})["Item"]
    assert int(item["expires_at"]["N"]) > float(item["created_at"]["N"])
    assert pending_jobs(aws) == 1
    assert aws.created == [ENDPOINT]
    status, _, job = request(app, "GET", headers["location"].removeprefix("/prod"))
    assert (status, job["state"], job["model"]) == (200, "pending", "circrna")


@pytest.mark.parametrize(
    ("context_path", "location"),
    [
        ("/v1/models/circrna/predict", "/v1/jobs/"),  # the execute-api stage URL
        ("/ml/seqserve/models/circrna/predict", "/ml/seqserve/jobs/"),  # a custom domain's base path
        ("/models/circrna/predict", "/jobs/"),  # a custom domain at its root, and the local stack
    ],
)
def test_the_location_of_a_queued_job_carries_the_path_the_api_was_reached_under(
    app, jobs_aws, context_path, location
):
    event = api_event("POST", "/models/circrna/predict", BODY)
    event["headers"]["Prefer"] = "respond-async"
    event["requestContext"]["path"] = context_path
    response = app.resolve(event, TimedContext())
    body = json.loads(response["body"])
    assert response["statusCode"] == 202
    assert response["multiValueHeaders"]["Location"] == [location + body["id"]]
    assert body["location"] == location + body["id"]


def test_async_predict_validates_the_body_before_storing_anything(aws, app, jobs_aws):
    status, _, body = request(
        app, "POST", "/models/circrna/predict", '{"inputs": []}', prefer="respond-async"
    )
    assert (status, body["error"]["code"]) == (400, "invalid_input")
    assert "inputs" in body["error"]["message"]
    assert jobs_aws["sqs"].receive_message(QueueUrl=jobs_aws["queue_url"]).get("Messages", []) == []
    assert pending_jobs(aws) == 0
    assert aws.created == []


def test_async_predict_on_a_failed_model_still_queues_the_job(aws, app, runner, jobs_aws):
    aws.put_state("circrna", state="failed", state_changed_at=1.0, failure_reason="image pull failed")
    job_id = submit(app)
    run_queue(runner, jobs_aws)
    _, _, job = request(app, "GET", f"/jobs/{job_id}")
    assert job["state"] == "failed"
    assert "image pull failed" in job["reason"]
    assert pending_jobs(aws) == 0


@pytest.mark.parametrize("job_id", ["0" * 32, "not-a-job-id"])
def test_unknown_job_is_404_with_the_error_body(app, job_id):
    status, _, body = request(app, "GET", f"/jobs/{job_id}")
    assert (status, body["error"]["code"]) == (404, "unknown_job")
    assert job_id in body["error"]["message"]


def test_runner_waits_for_the_endpoint_then_runs_the_job(aws, app, runner, runtime, jobs_aws, clock):
    aws.put_state("circrna", state="waking", state_changed_at=1.0)
    job_id = submit(app)
    # The endpoint is not there yet: the message stays, with its visibility moved to the first backoff.
    calls: list[dict[str, Any]] = []
    jobs_aws["sqs"].meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility", lambda params, **_: calls.append(params)
    )
    first = run_queue(runner, jobs_aws)
    assert first["received"] == 1 and len(first["failed"]) == 1
    assert [c["VisibilityTimeout"] for c in calls] == [5]
    _, _, job = request(app, "GET", f"/jobs/{job_id}")
    assert job["state"] == "pending"
    assert "not created yet" in job["waiting_for"]

    aws.create_endpoint(ENDPOINT)
    jobs_aws["sqs"].change_message_visibility(
        QueueUrl=jobs_aws["queue_url"],
        ReceiptHandle=first["messages"][0]["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    second = run_queue(runner, jobs_aws)
    assert second["received"] == 1 and second["failed"] == set()
    _, _, job = request(app, "GET", f"/jobs/{job_id}")
    assert (job["state"], job["result"]) == ("done", PREDICTION)
    assert runtime.bodies == [BODY.encode()]
    assert pending_jobs(aws) == 0
    assert float(aws.item("circrna")["last_invoked_at"]["N"]) == clock.now


def test_a_duplicate_delivery_of_a_finished_job_changes_nothing(aws, app, runner, runtime, jobs_aws):
    aws.create_endpoint(ENDPOINT)
    job_id = submit(app)
    run_queue(runner, jobs_aws)
    jobs_aws["sqs"].send_message(QueueUrl=jobs_aws["queue_url"], MessageBody=json.dumps({"job": job_id}))
    again = run_queue(runner, jobs_aws)
    assert again["received"] == 1 and again["failed"] == set()
    assert runtime.bodies == [BODY.encode()]
    assert pending_jobs(aws) == 0


def test_a_job_whose_model_rejects_it_fails_naming_why(aws, app, runner, runtime, jobs_aws):
    aws.create_endpoint(ENDPOINT)
    runtime.answer = lambda body: model_error(
        400, json.dumps({"error": {"code": "invalid_input", "message": "inputs[0]: invalid character 'U'"}})
    )
    job_id = submit(app)
    assert run_queue(runner, jobs_aws)["failed"] == set()
    _, _, job = request(app, "GET", f"/jobs/{job_id}")
    assert job["state"] == "failed"
    assert "invalid character 'U'" in job["reason"]


def test_a_job_gives_up_after_its_attempts_naming_what_it_waited_for(
    aws, app, jobs_aws, runtime, clock, environ
):
    class NeverInService:
        """SageMaker whose endpoint stays Creating."""

        def __getattr__(self, name: str) -> Any:
            return getattr(aws.sagemaker, name)

        def describe_endpoint(self, **_: Any) -> dict[str, Any]:
            return {"EndpointStatus": "Creating"}

    runner = make_runner(aws, runtime, clock, environ, jobs_aws, sagemaker=NeverInService(), max_attempts=2)
    aws.create_endpoint(ENDPOINT)
    job_id = submit(app)
    first = run_queue(runner, jobs_aws)
    assert len(first["failed"]) == 1
    jobs_aws["sqs"].change_message_visibility(
        QueueUrl=jobs_aws["queue_url"],
        ReceiptHandle=first["messages"][0]["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    # The second receive is the last attempt: the job ends, so the message is deleted, not retried.
    assert run_queue(runner, jobs_aws)["failed"] == set()
    _, _, job = request(app, "GET", f"/jobs/{job_id}")
    assert job["state"] == "failed"
    assert job["reason"] == "gave up after 2 attempts: model circrna's endpoint is Creating"
    assert pending_jobs(aws) == 0


def test_prefer_wait_over_25_is_refused_naming_it(aws, app):
    status, _, body = request(app, "POST", "/models/circrna/predict", BODY, prefer="wait=26")
    assert status == 400
    assert "wait=26" in body["error"]["message"]
    assert aws.created == []


def test_prefer_wait_holds_the_request_until_the_endpoint_is_in_service(aws, app, runtime):
    status, _, body = request(app, "POST", "/models/circrna/predict", BODY, prefer="wait=10")
    # moto's endpoint is InService as soon as the wake created it, so the first poll finds it.
    assert (status, body) == (200, PREDICTION)
    assert aws.created == [ENDPOINT]
    assert float(aws.item("circrna")["last_invoked_at"]["N"]) > 0


def test_prefer_wait_answers_503_once_the_wait_is_over(aws, app):
    aws.put_state("circrna", state="waking", state_changed_at=1.0)
    status, headers, body = request(app, "POST", "/models/circrna/predict", BODY, prefer="wait=1")
    assert (status, body["error"]["code"]) == (503, "waking")
    assert int(headers["retry-after"]) > 0


def test_hold_polls_within_n_seconds_and_the_lambdas_remaining_time(aws, runtime, clock, environ):
    from aws_lambda_powertools import Logger
    from invoker.job_routes import ANSWER_RESERVE_SECONDS, QueuedPredictions
    from seqserve_common.settings import parse_settings

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    queued = QueuedPredictions(
        settings=parse_settings(environ),
        runtime=runtime.client,
        sagemaker=aws.sagemaker,
        dynamodb=aws.dynamodb,
        s3=None,
        sqs=None,
        waker=None,
        clock=clock,
        logger=Logger(),
        sleep=sleep,
        monotonic=lambda: now[0],
    )
    spec = parse_settings(environ).models["circrna"]
    assert queued.hold(spec, BODY.encode(), seconds=25, remaining_ms=60_000) is None
    assert sum(slept) == pytest.approx(25)
    slept.clear()
    now[0] = 0.0
    assert queued.hold(spec, BODY.encode(), seconds=25, remaining_ms=10_000) is None
    assert sum(slept) == pytest.approx(10 - ANSWER_RESERVE_SECONDS)
    assert runtime.bodies == []


@pytest.mark.parametrize(
    ("header", "respond_async", "wait"),
    [
        ("respond-async", True, None),
        ("Respond-Async, wait=10", True, 10),
        ('wait="5"; foo=bar', False, 5),
        ("return=minimal", False, None),
        (None, False, None),
    ],
)
def test_prefer_header_parsing(header, respond_async, wait):
    from invoker.job_routes import parse_prefer

    assert parse_prefer(header) == parse_prefer.__globals__["Preferences"](
        respond_async=respond_async, wait=wait
    )


@pytest.mark.parametrize("header", ["wait=-1", "wait=abc", "wait=2.5", "wait=100"])
def test_bad_prefer_wait_is_an_invalid_input(header):
    from invoker.api_error import ApiError
    from invoker.job_routes import parse_prefer

    with pytest.raises(ApiError) as raised:
        parse_prefer(header)
    assert (raised.value.status, raised.value.code) == (400, "invalid_input")
    assert header in raised.value.message


def test_a_job_that_cannot_be_queued_ends_at_once_and_the_client_gets_503(aws, app, jobs_aws):
    from botocore.stub import Stubber

    with Stubber(jobs_aws["sqs"]) as stub:
        stub.add_client_error("send_message", service_error_code="ServiceUnavailable", http_status_code=503)
        status, headers, body = request(app, "POST", "/models/circrna/predict", BODY, prefer="respond-async")
    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert int(headers["retry-after"]) > 0
    [item] = aws.dynamodb.scan(TableName=JOBS_TABLE)["Items"]
    assert (item["state"]["S"], item["reason"]["S"]) == (
        "failed",
        "the job could not be queued; submit it again",
    )
    assert pending_jobs(aws) == 0


def test_a_done_job_whose_result_expired_is_404(aws, app, runner, jobs_aws):
    aws.create_endpoint(ENDPOINT)
    job_id = submit(app)
    run_queue(runner, jobs_aws)
    jobs_aws["s3"].delete_object(Bucket=BUCKET, Key=f"jobs/{job_id}/result.json")
    status, _, body = request(app, "GET", f"/jobs/{job_id}")
    assert (status, body["error"]["code"]) == (404, "unknown_job")


def test_a_job_for_an_always_on_model_is_run_without_describing_its_endpoint(
    aws, app, runtime, clock, environ, jobs_aws
):
    class DescribeDenied:
        """SageMaker as the runner's role sees it: DescribeEndpoint only on on-demand endpoints."""

        def __getattr__(self, name: str) -> Any:
            return getattr(aws.sagemaker, name)

        def describe_endpoint(self, **_: Any) -> dict[str, Any]:
            raise AssertionError("the runner described an endpoint it has no permission on")

    runner = make_runner(aws, runtime, clock, environ, jobs_aws, sagemaker=DescribeDenied())
    aws.create_endpoint("medical-endpoint", config="medical-config")
    status, _, body = request(app, "POST", "/models/medical/predict", BODY, prefer="respond-async")
    assert status == 202
    assert run_queue(runner, jobs_aws)["failed"] == set()
    _, _, job = request(app, "GET", f"/jobs/{body['id']}")
    assert (job["state"], job["result"]) == ("done", PREDICTION)


def test_jobs_reason_counts_only_holds_before_their_deadline():
    from seqserve_common.jobs import JOB_HOLD_SECONDS, job_hold, jobs_reason

    hold = job_hold("a" * 32, created_at=1000.0)
    assert jobs_reason([hold], now=1000 + JOB_HOLD_SECONDS - 1) == "jobs"
    assert jobs_reason([hold], now=1000 + JOB_HOLD_SECONDS) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ((), None),
        (("0000001000000.000#" + "a" * 32,), "jobs"),
        (("0000000000999.000#" + "a" * 32,), None),
        (("not-a-hold",), None),
        (("1000000000000#",), None),
    ],
)
def test_jobs_reason(given, expected):
    from seqserve_common.jobs import jobs_reason

    assert jobs_reason(given, now=1000.0) == expected


# -- issue 18: jobs hold their model atomically with the delete, and cannot strand it ---------------


def idle_awake(aws) -> None:
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=START - 7200, last_invoked_at=START - 7200)


def test_a_job_queued_between_the_read_and_the_move_to_sleeping_keeps_the_model_up(
    aws, app, make_checker, jobs_aws
):
    """The job's hold arrives after the reconciler read the item idle: its write must fail."""
    idle_awake(aws)
    client = boto3.client("dynamodb", region_name=REGION)
    submitted: list[str] = []

    def job_arrives(params: dict[str, Any], **_: Any) -> None:
        if not submitted and "#state = :to" in params.get("UpdateExpression", ""):
            submitted.append(submit(app))

    client.meta.events.register("provide-client-params.dynamodb.UpdateItem", job_arrives)
    assert make_checker(dynamodb=client).run()["circrna"] == "awake"
    assert submitted and aws.endpoint_exists(ENDPOINT)
    assert pending_jobs(aws) == 1


def test_a_job_queued_while_the_model_is_sleeping_takes_it_back_to_awake(aws, app, checker, jobs_aws):
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="sleeping", state_changed_at=START - 60, last_invoked_at=START - 7200)
    submit(app)  # sleeping with its endpoint still there: the waker answers "retry", the job is queued
    assert checker.run()["circrna"] == "awake"
    assert aws.endpoint_exists(ENDPOINT)


def lose_answers(client: Any, replay: Any, operation: str, *, times: int = 1) -> list[str]:
    """The first ``times`` calls of ``operation`` (a job's create, for TransactWriteItems) reach
    DynamoDB through ``replay``, but their answers are lost: botocore sees a read timeout and retries,
    as it does on AWS."""
    from botocore.exceptions import ReadTimeoutError

    lost: list[str] = []
    sent: dict[str, Any] = {}

    def remember(params: dict[str, Any], **_: Any) -> None:
        sent.clear()
        sent.update(params)

    def deliver_then_lose(request: Any, **_: Any) -> None:
        creating = any("Put" in write for write in sent.get("TransactItems", [{"Put": None}]))
        if len(lost) < times and creating:
            lost.append(operation)
            getattr(replay, _snake(operation))(**sent)
            raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register(f"provide-client-params.dynamodb.{operation}", remember)
    client.meta.events.register_first(f"before-send.dynamodb.{operation}", deliver_then_lose)
    return lost


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def test_a_lost_answer_to_the_create_transaction_neither_fails_the_submit_nor_strands_a_hold(
    aws, runtime, clock, environ, jobs_aws, runner
):
    from aws_lambda_powertools import Logger
    from invoker.app import build_app
    from seqserve_common.settings import parse_settings

    client = boto3.client("dynamodb", region_name=REGION)
    lost = lose_answers(client, aws.dynamodb, "TransactWriteItems")
    app = build_app(
        settings=parse_settings(environ),
        runtime=runtime.client,
        sagemaker=aws.sagemaker,
        dynamodb=client,
        clock=clock,
        logger=Logger(),
        s3=jobs_aws["s3"],
        sqs=jobs_aws["sqs"],
    )
    aws.create_endpoint(ENDPOINT)
    job_id = submit(app)  # the retried transaction finds its own job and writes the same again
    assert lost == ["TransactWriteItems"]
    assert pending_jobs(aws) == 1
    assert run_queue(runner, jobs_aws)["failed"] == set()
    _, _, job = request(app, "GET", f"/jobs/{job_id}")
    assert job["state"] == "done"
    assert pending_jobs(aws) == 0


def test_a_create_whose_answers_are_all_lost_ends_its_job_and_releases_its_hold(
    aws, runtime, clock, environ, jobs_aws
):
    from aws_lambda_powertools import Logger
    from botocore.config import Config
    from invoker.app import build_app
    from seqserve_common.settings import parse_settings

    client = boto3.client("dynamodb", region_name=REGION, config=Config(retries={"max_attempts": 2}))
    lost = lose_answers(client, aws.dynamodb, "TransactWriteItems", times=100)
    app = build_app(
        settings=parse_settings(environ),
        runtime=runtime.client,
        sagemaker=aws.sagemaker,
        dynamodb=client,
        clock=clock,
        logger=Logger(),
        s3=jobs_aws["s3"],
        sqs=jobs_aws["sqs"],
    )
    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=clock.now, last_invoked_at=clock.now)
    status, _, body = request(app, "POST", "/models/circrna/predict", BODY, prefer="respond-async")
    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert len(lost) >= 2  # the first attempt and botocore's retries all lost their answers
    # The transaction did commit: the job exists, but it was ended at once and holds nothing.
    [job] = aws.dynamodb.scan(TableName=JOBS_TABLE)["Items"]
    assert job["state"]["S"] == "failed"
    assert pending_jobs(aws) == 0
    assert jobs_aws["sqs"].receive_message(QueueUrl=jobs_aws["queue_url"]).get("Messages", []) == []


def test_a_job_never_queued_stops_holding_the_model_at_its_deadline_while_other_jobs_run(
    aws, app, runner, checker, clock, jobs_aws
):
    """A timeout between creating a job and sending its message: the job never runs, never ends. It
    holds the model up JOB_HOLD_SECONDS from its creation, not as long as other jobs keep coming."""
    from seqserve_common.jobs import JOB_HOLD_SECONDS, JobStore
    from seqserve_common.lifecycle import coalescing_seconds

    aws.create_endpoint(ENDPOINT)
    aws.put_state("circrna", state="awake", state_changed_at=clock.now, last_invoked_at=clock.now)
    store = JobStore(
        dynamodb=aws.dynamodb, s3=jobs_aws["s3"], jobs_table=JOBS_TABLE, state_table=TABLE, bucket=BUCKET
    )
    store.create(job_id="f" * 32, model="circrna", body=BODY.encode(), now=clock.now)
    stranded_at = clock.now
    # Long after any idle period, the stranded job still holds the model (it might yet run)...
    clock.advance(50 * 60)
    assert checker.run()["circrna"] == "awake"
    # ...while another job comes, runs and ends.
    submit(app)
    assert run_queue(runner, jobs_aws)["failed"] == set()
    # Once the stranded job's hold has expired and the other job's use is idle, the model goes down.
    clock.advance(15 * 60 + coalescing_seconds(15) + 1)
    assert clock.now > stranded_at + JOB_HOLD_SECONDS
    assert checker.run()["circrna"] == "sleeping"
    assert not aws.endpoint_exists(ENDPOINT)
    assert pending_jobs(aws) == 0  # the expired hold was released before the claim


def test_status_counts_the_queued_jobs_waiting_for_the_model(aws, app, jobs_aws):
    """Issue 22, item 7: the console shows queued jobs; /status says how many."""
    _, _, before = request(app, "GET", "/models/circrna/status", None)
    assert before["queued_jobs"] == 0
    submit(app)
    submit(app)
    _, _, after = request(app, "GET", "/models/circrna/status", None)
    assert after["queued_jobs"] == 2
