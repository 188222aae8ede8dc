"""Queued predictions and held predictions: RFC 7240 ``Prefer`` on predict, and ``GET /jobs/{id}``.

- ``Prefer: respond-async``: the validated body is stored as a job (seqserve_common.jobs), its id is
  sent to the jobs queue, the model is woken, and the client gets 202 with ``Location: /jobs/{id}``
  whatever the model's state. The job runner Lambda runs it once the endpoint is in service.
- ``Prefer: wait=N`` (N <= MAX_WAIT_SECONDS): a predict that finds the endpoint waking polls
  DescribeEndpoint for up to N seconds (inside the Lambda's remaining time) before answering 503.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.endpoints import describe_endpoint, error_code
from seqserve_common.jobs import JobState, JobStore
from seqserve_common.metrics import emit
from seqserve_common.settings import ModelSpec, Settings

from invoker.api_error import ApiError, json_response
from invoker.api_responses import responses
from invoker.endpoint_call import EndpointDown, invoke
from invoker.waker import Waker

# API Gateway ends every request at 29 s; a held request must leave room for the answer.
MAX_WAIT_SECONDS = 25
# Left of the Lambda's time when polling stops: one endpoint call that answers at a model's usual pace
# and the state write. A first answer slower than this can still meet API Gateway's 504.
ANSWER_RESERVE_SECONDS = 4.0
POLL_SECONDS = 1.0
JOB_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, kw_only=True)
class Preferences:
    respond_async: bool = False
    wait: int | None = None


def parse_prefer(header: str | None) -> Preferences:
    """RFC 7240 preferences of interest; unknown ones are ignored, as the RFC asks; a bad wait is a 400."""
    respond_async, wait = False, None
    for preference in (header or "").split(","):
        token, _, value = preference.split(";", 1)[0].partition("=")
        token, value = token.strip().lower(), value.strip().strip('"')
        if token == "respond-async":
            respond_async = True
        elif token == "wait":
            if not value.isdigit() or int(value) > MAX_WAIT_SECONDS:
                raise ApiError(
                    400,
                    "invalid_input",
                    f"Prefer: wait={value} is not allowed; "
                    f"wait must be whole seconds from 0 to {MAX_WAIT_SECONDS}",
                )
            wait = int(value)
    return Preferences(respond_async=respond_async, wait=wait)


class QueuedPredictions:
    def __init__(
        self,
        *,
        settings: Settings,
        runtime: Any,
        sagemaker: Any,
        dynamodb: Any,
        s3: Any,
        sqs: Any,
        waker: Waker,
        clock: Callable[[], float],
        logger: Logger,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._runtime = runtime
        self._sagemaker = sagemaker
        self._sqs = sqs
        self._waker = waker
        self._clock = clock
        self._logger = logger
        self._sleep = sleep
        self._monotonic = monotonic
        self.store: JobStore | None = None
        if settings.jobs_table and settings.jobs_bucket and settings.jobs_queue_url:
            self.store = JobStore(
                dynamodb=dynamodb,
                s3=s3,
                jobs_table=settings.jobs_table,
                state_table=settings.state_table,
                bucket=settings.jobs_bucket,
            )
        self.router = Router()
        self.router.get(
            "/jobs/<job_id>",
            responses=responses(200, "the job: pending, running, done with result, or failed with reason",
                                errors=(400, 404, 503)),
        )(self.job_status)  # fmt: skip

    def _jobs(self) -> JobStore:
        if self.store is None:
            raise ApiError(501, "jobs_not_deployed", "queued predictions are not deployed with this API")
        return self.store

    def submit(self, spec: ModelSpec, body: bytes, *, base: str = "") -> Response:
        """Store an already validated body as a job, queue it, wake the model: 202 + Location.

        ``base``: the path prefix the client reached the API under (invoker.base_path), so Location is
        the job's path as the client must ask for it (``/v1/jobs/{id}`` on API Gateway's stage URL)."""
        store = self._jobs()
        job = store.create(job_id=uuid.uuid4().hex, model=spec.name, body=body, now=self._clock())
        try:
            self._sqs.send_message(
                QueueUrl=self._settings.jobs_queue_url, MessageBody=json.dumps({"job": job.id})
            )
        except (ClientError, BotoCoreError):
            # Unqueued, it would never run: end it (and its count) now, and the client gets a 503.
            store.fail(job, reason="the job could not be queued; submit it again", now=self._clock())
            raise
        emit("JobsQueued", model=spec.name)
        if spec.on_demand:
            try:
                self._waker.wake(spec, endpoint_down=False, retry_failed=False)
            except ApiError as error:
                # The job is queued either way: the runner retries the wake or fails the job naming why.
                self._logger.warning("wake for a queued job failed", extra={"reason": error.message})
        location = f"{base}/jobs/{job.id}"
        return json_response(
            202,
            {"id": job.id, "model": spec.name, "state": job.state.value, "location": location},
            headers={"Location": location, "Preference-Applied": "respond-async"},
        )

    def job_status(self, job_id: str) -> Response[Any]:
        store = self._jobs()
        job = store.get(job_id) if JOB_ID.match(job_id) else None
        unknown = ApiError(404, "unknown_job", f"no job {job_id!r}; jobs are kept for 7 days")
        if job is None:
            raise unknown
        body: dict[str, Any] = {
            "id": job.id,
            "model": job.model,
            "state": job.state.value,
            "created_at": job.created_at,
            "updated_at": job.updated_at,
        }
        if job.state is JobState.DONE:
            try:
                body["result"] = store.result(job)
            except ClientError as error:
                # The result expired (bucket lifecycle) before DynamoDB's TTL removed the item.
                if error_code(error) in {"NoSuchKey", "404"}:
                    raise unknown from None
                raise
        elif job.state is JobState.FAILED:
            body["reason"] = job.reason
        elif job.waiting_for:
            body["waiting_for"] = job.waiting_for
        return json_response(200, body)

    def hold(self, spec: ModelSpec, body: bytes, *, seconds: int, remaining_ms: int) -> str | None:
        """The model's answer once its endpoint is in service within ``seconds``; None when it is not."""
        start = self._monotonic()
        deadline = start + min(float(seconds), remaining_ms / 1000 - ANSWER_RESERVE_SECONDS)
        while (left := deadline - self._monotonic()) > 0:
            self._sleep(min(POLL_SECONDS, left))
            status = describe_endpoint(self._sagemaker, spec.endpoint_name)
            if status.status == "Failed":
                return None
            if status.status == "InService":
                try:
                    return invoke(self._runtime, model=spec.name, endpoint_name=spec.endpoint_name, body=body)
                except EndpointDown:
                    continue
        return None
