"""Queued predictions ("jobs"): inputs and results in S3, one item per job in the jobs table.

Every state change of a job is one conditional write. While a job is open it holds its model up with
a hold on the model's state item: an element ``"<deadline>#<job id>"`` of the string set
``open_jobs``, added in the transaction that creates the job and removed in the one that ends it
(done or failed). Set elements make both idempotent (a duplicate SQS delivery or a retried transaction
adds or removes the same element once), and the deadline makes the hold expire by itself: a job whose
end is never written (a lost answer, a timeout before its message was sent, a message that crashed into
the dead-letter queue) stops holding the model ``JOB_HOLD_SECONDS`` after it was created, however many
other jobs come and go meanwhile. The reconciler keeps a model up while ``jobs_reason`` names a reason,
removes expired holds before it puts a model down, and its claim requires that no hold is left.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from seqserve_common.state import JOB_HOLDS

# Jobs (items and objects) are kept a week; the bucket's lifecycle rule on JOBS_PREFIX matches it.
JOB_TTL_SECONDS = 7 * 24 * 3600
JOBS_PREFIX = "jobs/"
JOBS_REASON = "jobs"
# How long an open job holds its model up, from its creation: longer than a job's whole wait with the
# runner's default backoff (40 receives, at most 60 s apart: about 37 minutes, README). A job still
# open after that no longer holds its model; if the model goes down meanwhile, the runner wakes it.
JOB_HOLD_SECONDS = 3600
# A job is put only once, or again by a retry of its own create (same pending job, same hold).
RECREATE_SAME_JOB = "attribute_not_exists(id) OR (#state = :pending AND #hold = :hold)"


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


OPEN_STATES = (JobState.PENDING, JobState.RUNNING)


def job_hold(job_id: str, *, created_at: float) -> str:
    """The hold a job created at ``created_at`` puts on its model; it sorts by deadline."""
    return f"{created_at + JOB_HOLD_SECONDS:017.3f}#{job_id}"


def hold_deadline(hold: str) -> float | None:
    """The epoch a hold expires at; None for an element that is not a hold (it holds nothing)."""
    deadline, sep, job_id = hold.partition("#")
    try:
        return float(deadline) if sep and job_id else None
    except ValueError:
        return None


def live_holds(holds: Iterable[str], *, now: float) -> tuple[str, ...]:
    return tuple(h for h in holds if (deadline := hold_deadline(h)) is not None and now < deadline)


def jobs_reason(holds: Iterable[str], *, now: float) -> str | None:
    """``"jobs"`` while an open job's hold has not expired at ``now``, else None: a reason for
    up_reasons(). ``holds`` are the state item's (``StateItem.job_holds``)."""
    return JOBS_REASON if live_holds(holds, now=now) else None


@dataclass(frozen=True, kw_only=True)
class Job:
    id: str
    model: str
    state: JobState
    created_at: float
    updated_at: float
    reason: str | None = None
    waiting_for: str | None = None
    # The hold on the model's item (None for a job stored before holds existed: it holds nothing).
    hold: str | None = None

    @property
    def input_key(self) -> str:
        return f"{JOBS_PREFIX}{self.id}/input.json"

    @property
    def result_key(self) -> str:
        return f"{JOBS_PREFIX}{self.id}/result.json"


def _epoch(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3))}


def _job(item: Mapping[str, Any]) -> Job:
    return Job(
        id=item["id"]["S"],
        model=item["model"]["S"],
        state=JobState(item["state"]["S"]),
        created_at=float(item["created_at"]["N"]),
        updated_at=float(item["updated_at"]["N"]),
        reason=item["reason"]["S"] if "reason" in item else None,
        waiting_for=item["waiting_for"]["S"] if "waiting_for" in item else None,
        hold=item["hold"]["S"] if "hold" in item else None,
    )


class JobStore:
    def __init__(self, *, dynamodb: Any, s3: Any, jobs_table: str, state_table: str, bucket: str) -> None:
        self._dynamodb = dynamodb
        self._s3 = s3
        self._jobs_table = jobs_table
        self._state_table = state_table
        self._bucket = bucket

    def _hold(self, model: str, hold: str, *, action: str) -> dict[str, Any]:
        """``ADD`` or ``DELETE`` one hold on the model's state item: idempotent, being a set element."""
        return {
            "Update": {
                "TableName": self._state_table,
                "Key": {"model": {"S": model}},
                "UpdateExpression": f"{action} {JOB_HOLDS} :hold",
                "ExpressionAttributeValues": {":hold": {"SS": [hold]}},
            }
        }

    def create(self, *, job_id: str, model: str, body: bytes, now: float) -> Job:
        """Store the inputs, then the job item and its hold on the model in one transaction.

        The transaction may run twice (botocore retries it when its answer is lost): the second run
        finds the same pending job, as nobody else knows its id before this returns, and writes the same.
        """
        created_at = round(now, 3)
        hold = job_hold(job_id, created_at=created_at)
        job = Job(
            id=job_id,
            model=model,
            state=JobState.PENDING,
            created_at=created_at,
            updated_at=created_at,
            hold=hold,
        )
        self._s3.put_object(Bucket=self._bucket, Key=job.input_key, Body=body, ContentType="application/json")
        item = {
            "id": {"S": job_id},
            "model": {"S": model},
            "state": {"S": JobState.PENDING.value},
            "created_at": _epoch(created_at),
            "updated_at": _epoch(created_at),
            "expires_at": {"N": str(int(now) + JOB_TTL_SECONDS)},
            "hold": {"S": hold},
        }
        writes = [
            {
                "Put": {
                    "TableName": self._jobs_table,
                    "Item": item,
                    "ConditionExpression": RECREATE_SAME_JOB,
                    "ExpressionAttributeNames": {"#state": "state", "#hold": "hold"},
                    "ExpressionAttributeValues": {
                        ":pending": {"S": JobState.PENDING.value},
                        ":hold": {"S": hold},
                    },
                }
            },
            self._hold(model, hold, action="ADD"),
        ]
        try:
            self._dynamodb.transact_write_items(TransactItems=writes)
        except (ClientError, BotoCoreError):
            # No answer, or an error, after botocore's retries: the job may exist all the same, holding
            # its model for an hour with no message to run it. End it now if it does (its hold goes).
            self._abandon(job, now=now)
            raise
        return job

    def _abandon(self, job: Job, *, now: float) -> None:
        # A job that was never stored makes this a no-op; if DynamoDB fails again, the hold expires.
        with contextlib.suppress(ClientError, BotoCoreError):
            self.fail(job, reason="the job could not be stored; submit it again", now=now)

    def get(self, job_id: str) -> Job | None:
        item = self._dynamodb.get_item(
            TableName=self._jobs_table, Key={"id": {"S": job_id}}, ConsistentRead=True
        ).get("Item")
        return _job(item) if item else None

    def input(self, job: Job) -> bytes:
        return self._s3.get_object(Bucket=self._bucket, Key=job.input_key)["Body"].read()

    def result(self, job: Job) -> Any:
        return json.loads(self._s3.get_object(Bucket=self._bucket, Key=job.result_key)["Body"].read())

    def _set(self, job: Job, *, to: JobState, now: float, extra: Mapping[str, str] | None = None) -> dict:
        names = {"#state": "state"}
        values: dict[str, Any] = {":to": {"S": to.value}, ":now": _epoch(now)}
        sets = ["#state = :to", "updated_at = :now"]
        for index, (field, text) in enumerate((extra or {}).items()):
            values[f":v{index}"] = {"S": text}
            sets.append(f"{field} = :v{index}")
        values.update({f":open{i}": {"S": s.value} for i, s in enumerate(OPEN_STATES)})
        return {
            "TableName": self._jobs_table,
            "Key": {"id": {"S": job.id}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "#state IN (:open0, :open1)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def mark(self, job: Job, *, to: JobState, now: float, waiting_for: str | None = None) -> bool:
        """Move an open job to pending or running; False when it has already ended."""
        extra = {"waiting_for": waiting_for} if waiting_for else None
        try:
            self._dynamodb.update_item(**self._set(job, to=to, now=now, extra=extra))
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _end(self, job: Job, *, to: JobState, now: float, reason: str | None) -> bool:
        extra = {"reason": reason} if reason else None
        writes: list[dict[str, Any]] = [{"Update": self._set(job, to=to, now=now, extra=extra)}]
        if job.hold is not None:
            writes.append(self._hold(job.model, job.hold, action="DELETE"))
        try:
            self._dynamodb.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    def finish(self, job: Job, *, answer: str, now: float) -> bool:
        """Store the model's answer, then mark the job done; False if it had already ended."""
        self._s3.put_object(
            Bucket=self._bucket, Key=job.result_key, Body=answer.encode(), ContentType="application/json"
        )
        return self._end(job, to=JobState.DONE, now=now, reason=None)

    def fail(self, job: Job, *, reason: str, now: float) -> bool:
        return self._end(job, to=JobState.FAILED, now=now, reason=reason)
