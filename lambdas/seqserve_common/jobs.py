"""Queued predictions ("jobs"): inputs and results in S3, one item per job in the jobs table.

Every state change of a job is one conditional write, and the two that begin and end a job's wait
(created; done or failed) are one transaction with the model's ``pending_jobs`` counter on the state
item, so the counter moves +1 once and -1 once per job however often SQS delivers its message.
The reconciler keeps a model up while ``jobs_reason`` names a reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

# Jobs (items and objects) are kept a week; the bucket's lifecycle rule on JOBS_PREFIX matches it.
JOB_TTL_SECONDS = 7 * 24 * 3600
JOBS_PREFIX = "jobs/"
JOBS_REASON = "jobs"
# A counter no job has moved for this long is ignored: a job whose messages all crashed (dead letters)
# never ends, and must not keep its model up forever. Longer than any job's wait (about 37 minutes).
STALE_COUNTER_SECONDS = 2 * 3600


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


OPEN_STATES = (JobState.PENDING, JobState.RUNNING)


def _number(item: Mapping[str, Any], key: str) -> float | None:
    raw = item.get(key)
    if raw is None:
        return None
    return float(raw["N"]) if isinstance(raw, Mapping) else float(raw)


def jobs_reason(
    item_or_count: Mapping[str, Any] | int | None,
    *,
    now: float | None = None,
    stale_after: float = STALE_COUNTER_SECONDS,
) -> str | None:
    """``"jobs"`` while the model has jobs waiting, else None: a reason for up_reasons().

    Takes the count, or the state item as DynamoDB returns it (``{"pending_jobs": {"N": "2"}}``) or as
    a plain mapping (``{"pending_jobs": 2, "jobs_changed_at": ...}``). A missing counter is zero. Given
    ``now``, a counter that no job created or ended within ``stale_after`` seconds is ignored.
    """
    if item_or_count is None:
        return None
    if isinstance(item_or_count, Mapping):
        count = _number(item_or_count, "pending_jobs") or 0
        changed = _number(item_or_count, "jobs_changed_at")
        if now is not None and changed is not None and now - changed > stale_after:
            return None
    else:
        count = int(item_or_count)
    return JOBS_REASON if count > 0 else None


@dataclass(frozen=True, kw_only=True)
class Job:
    id: str
    model: str
    state: JobState
    created_at: float
    updated_at: float
    reason: str | None = None
    waiting_for: str | None = None

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
    )


class JobStore:
    def __init__(self, *, dynamodb: Any, s3: Any, jobs_table: str, state_table: str, bucket: str) -> None:
        self._dynamodb = dynamodb
        self._s3 = s3
        self._jobs_table = jobs_table
        self._state_table = state_table
        self._bucket = bucket

    def _count(self, model: str, delta: int, *, now: float) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._state_table,
                "Key": {"model": {"S": model}},
                "UpdateExpression": "ADD pending_jobs :delta SET jobs_changed_at = :now",
                "ExpressionAttributeValues": {":delta": {"N": str(delta)}, ":now": _epoch(now)},
            }
        }

    def create(self, *, job_id: str, model: str, body: bytes, now: float) -> Job:
        """Store the inputs, then the job item and +1 on the model's counter in one transaction."""
        job = Job(id=job_id, model=model, state=JobState.PENDING, created_at=now, updated_at=now)
        self._s3.put_object(Bucket=self._bucket, Key=job.input_key, Body=body, ContentType="application/json")
        item = {
            "id": {"S": job_id},
            "model": {"S": model},
            "state": {"S": JobState.PENDING.value},
            "created_at": _epoch(now),
            "updated_at": _epoch(now),
            "expires_at": {"N": str(int(now) + JOB_TTL_SECONDS)},
        }
        self._dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._jobs_table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(id)",
                    }
                },
                self._count(model, +1, now=now),
            ]
        )
        return job

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
        try:
            self._dynamodb.transact_write_items(
                TransactItems=[
                    {"Update": self._set(job, to=to, now=now, extra=extra)},
                    self._count(job.model, -1, now=now),
                ]
            )
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
