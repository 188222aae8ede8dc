"""Queued predictions end to end on the local stack: the real invoker, the real job runner fed by the
local SQS event source, and endpoints that take time to create."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from local.stack import LocalStack

from .conftest import ENDPOINT_TIMES, SEQUENCE, endpoint_clock

ASYNC = {"Prefer": "respond-async"}
BURST = 12


def endpoint_status(stack: LocalStack) -> str | None:
    endpoints = stack.client("sagemaker").list_endpoints()["Endpoints"]
    return next((e["EndpointStatus"] for e in endpoints), None)


def wait_for_jobs(api: httpx.Client, ids: list[str], *, timeout: float = 90.0) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = {job_id: api.get(f"/jobs/{job_id}").json() for job_id in ids}
        if all(job["state"] in ("done", "failed") for job in jobs.values()) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def queue_depth(stack: LocalStack, url: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_a_burst_of_async_requests_on_a_sleeping_model_all_run_once_it_is_up(
    stack: LocalStack, api: httpx.Client
) -> None:
    assert api.get("/models/circrna/status").json()["state"] == "asleep"
    inputs = [SEQUENCE[i:] for i in range(BURST)]
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        answers = list(
            pool.map(lambda x: api.post("/models/circrna/predict", json={"inputs": x}, headers=ASYNC), inputs)
        )
    assert [a.status_code for a in answers] == [202] * BURST
    ids = [a.json()["id"] for a in answers]
    assert [a.headers["location"] for a in answers] == [f"/jobs/{i}" for i in ids]
    assert len(set(ids)) == BURST
    assert endpoint_status(stack) == "Creating"
    # While the endpoint is Creating the runner keeps every job pending.
    time.sleep(2)
    assert {api.get(f"/jobs/{i}").json()["state"] for i in ids} == {"pending"}

    endpoint_clock(stack).advance(ENDPOINT_TIMES.create_seconds)
    jobs = wait_for_jobs(api, ids)
    assert {job["state"] for job in jobs.values()} == {"done"}, jobs
    for job_id, sequence in zip(ids, inputs, strict=True):
        [direct] = api.post("/models/circrna/predict", json={"inputs": sequence}).json()
        [queued] = jobs[job_id]["result"]
        assert queued["label"] == direct["label"]
    assert stack.moto.calls.count("SageMaker.CreateEndpoint") == 1
    assert stack.deployment is not None
    assert queue_depth(stack, stack.deployment.jobs_queue_url) == 0
    assert queue_depth(stack, stack.deployment.jobs_dead_letter_url) == 0
    item = stack.client("dynamodb").get_item(
        TableName=stack.deployment.table, Key={"model": {"S": "circrna"}}, ConsistentRead=True
    )["Item"]
    # Every job ended, so none holds the model any more.
    assert "open_jobs" not in item


def test_a_job_whose_endpoint_fails_ends_failed_naming_why(stack: LocalStack, api: httpx.Client) -> None:
    assert stack.deployment is not None
    sagemaker = stack.client("sagemaker")
    model = stack.deployment.models["circrna"]
    # The endpoint goes away and its configuration with it: the wake the job needs cannot succeed.
    sagemaker.delete_endpoint(EndpointName=model.endpoint_name)
    endpoint_clock(stack).advance(ENDPOINT_TIMES.delete_seconds)
    assert endpoint_status(stack) is None
    sagemaker.delete_endpoint_config(EndpointConfigName=model.endpoint_config_name)

    answer = api.post("/models/circrna/predict", json={"inputs": SEQUENCE}, headers=ASYNC)
    assert answer.status_code == 202
    job = wait_for_jobs(api, [answer.json()["id"]])[answer.json()["id"]]
    assert job["state"] == "failed"
    assert "CreateEndpoint failed" in job["reason"]
    assert model.endpoint_config_name in job["reason"]
    assert queue_depth(stack, stack.deployment.jobs_queue_url) == 0
