"""One queued prediction per SQS message: run it when the endpoint is in service, else wake and wait.

A message the runner cannot finish yet is reported as a batch item failure after its visibility is
set to the next backoff step, so SQS hands it back later; the job stays pending meanwhile. After
``max_attempts`` receives the job fails naming what it was waiting for. The queue's dead-letter
redrive allows more receives than that, so only messages whose runs crashed outright reach it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from invoker.api_error import ApiError
from invoker.endpoint_call import EndpointDown, ModelAnswered, invoke
from invoker.recorder import InvocationRecorder
from invoker.waker import Waker
from seqserve_common.endpoints import SERVING_STATUSES, describe_endpoint
from seqserve_common.jobs import Job, JobState, JobStore
from seqserve_common.lifecycle import State
from seqserve_common.metrics import emit
from seqserve_common.settings import Settings
from seqserve_common.state import StateStore

# Answers worth another attempt: throttling, SageMaker unavailable, a timeout, a cut-short answer.
RETRIED_STATUSES = frozenset({429, 503, 504})
RETRIED_CODES = frozenset({"model_timeout", "throttled", "unavailable"})


@dataclass(frozen=True, kw_only=True)
class Backoff:
    first_seconds: int = 10
    max_seconds: int = 60
    max_attempts: int = 40

    def delay(self, attempt: int) -> int:
        return min(self.max_seconds, self.first_seconds * 2 ** max(0, attempt - 1))


class NotYet(Exception):
    """The job cannot run now; its message comes back after the backoff."""


class Failed(Exception):
    """The job cannot succeed: it ends ``failed`` with this reason."""


class JobRunner:
    def __init__(
        self,
        *,
        settings: Settings,
        runtime: Any,
        sagemaker: Any,
        dynamodb: Any,
        s3: Any,
        sqs: Any,
        clock: Callable[[], float],
        logger: Logger,
        backoff: Backoff = Backoff(),
    ) -> None:
        if not (settings.jobs_table and settings.jobs_bucket and settings.jobs_queue_url):
            raise ValueError("the job runner needs JOBS_TABLE, JOBS_BUCKET and JOBS_QUEUE_URL")
        self._settings = settings
        self._runtime = runtime
        self._sagemaker = sagemaker
        self._sqs = sqs
        self._clock = clock
        self._logger = logger
        self._backoff = backoff
        state = StateStore(dynamodb=dynamodb, table=settings.state_table)
        self._state = state
        self._jobs = JobStore(
            dynamodb=dynamodb,
            s3=s3,
            jobs_table=settings.jobs_table,
            state_table=settings.state_table,
            bucket=settings.jobs_bucket,
        )
        self._recorder = InvocationRecorder(store=state, clock=clock, logger=logger)
        self._waker = Waker(
            store=state,
            sagemaker=sagemaker,
            clock=clock,
            logger=logger,
            tags=settings.creation_tags(),
        )

    def handle(self, record: SQSRecord) -> None:
        """Raise NotYet (the batch reports the message as failed, so SQS keeps it) or return (delete it)."""
        try:
            job_id = json.loads(record.body)["job"]
        except (ValueError, TypeError, KeyError):
            self._logger.error("dropping a message that names no job", extra={"body": record.body[:200]})
            return
        job = self._jobs.get(str(job_id))
        if job is None or job.state not in (JobState.PENDING, JobState.RUNNING):
            return  # expired, or a duplicate delivery of a job that already ended
        attempt = int(record.attributes.approximate_receive_count)
        self._logger.append_keys(job=job.id, model=job.model)
        try:
            self._run(job)
        except Failed as failure:
            self._fail(job, str(failure))
        except NotYet as waiting:
            if attempt >= self._backoff.max_attempts:
                self._fail(job, f"gave up after {attempt} attempts: {waiting}")
                return
            self._jobs.mark(job, to=JobState.PENDING, now=self._clock(), waiting_for=str(waiting))
            self._sqs.change_message_visibility(
                QueueUrl=self._settings.jobs_queue_url,
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=self._backoff.delay(attempt),
            )
            raise

    def _fail(self, job: Job, reason: str) -> None:
        if self._jobs.fail(job, reason=reason, now=self._clock()):
            emit("JobsFailed", model=job.model)
            self._logger.warning("job failed", extra={"reason": reason})

    def _run(self, job: Job) -> None:
        spec = self._settings.models.get(job.model)
        if spec is None:
            raise Failed(f"model {job.model} is no longer deployed")
        if spec.on_demand:
            item = self._state.get(spec.name)
            if item.state is State.FAILED:
                raise Failed(
                    f"model {spec.name}'s endpoint failed ({item.failure_reason or 'no reason recorded'}); "
                    f"POST /models/{spec.name}/wake to try again, then resubmit"
                )
        if spec.on_demand:
            # Only endpoints this app wakes are described; another mode's endpoint is simply called.
            status = describe_endpoint(self._sagemaker, spec.endpoint_name)
            if status.status == "Failed":
                raise Failed(
                    f"model {spec.name}'s endpoint failed: {status.failure_reason or 'no reason given'}"
                )
            # Updating, SystemUpdating, RollingBack and UpdateRollbackFailed serve requests too.
            if status.status not in SERVING_STATUSES:
                self._wake(spec, endpoint_down=status.status is None)
                raise NotYet(f"model {spec.name}'s endpoint is {status.status or 'not created yet'}")
        self._jobs.mark(job, to=JobState.RUNNING, now=self._clock())
        try:
            answer = invoke(
                self._runtime, model=spec.name, endpoint_name=spec.endpoint_name, body=self._jobs.input(job)
            )
        except EndpointDown:
            self._wake(spec, endpoint_down=True)
            raise NotYet(f"model {spec.name}'s endpoint is not in service") from None
        except ModelAnswered as error:
            if spec.on_demand:
                self._recorder.record(spec)
            if error.status in RETRIED_STATUSES:
                raise NotYet(error.message) from None
            raise Failed(f"model answered {error.status} {error.code}: {error.message}") from None
        except ApiError as error:
            if error.status in RETRIED_STATUSES or error.code in RETRIED_CODES:
                raise NotYet(error.message) from None
            raise Failed(error.message) from None
        if spec.on_demand:
            self._recorder.record(spec)
        if self._jobs.finish(job, answer=answer, now=self._clock()):
            emit("JobsDone", model=job.model)

    def _wake(self, spec: Any, *, endpoint_down: bool) -> None:
        if not spec.on_demand:
            return
        try:
            self._waker.wake(spec, endpoint_down=endpoint_down, retry_failed=False)
        except ApiError as error:
            if error.status in RETRIED_STATUSES:
                raise NotYet(error.message) from None
            raise Failed(error.message) from None
