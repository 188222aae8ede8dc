"""Keeps the reconciler's runs apart without reserved concurrency (which a new account, whose unreserved
concurrency may not drop below 10, cannot always grant): a lock item in the state table.

A run takes the lock with a conditional PutItem that succeeds only when no lock exists or the one there
has expired, and releases it at the end with a DeleteItem conditioned on its own token. A run that finds
the lock held does not reconcile: it counts a ``ReconcilerRunsSkipped`` metric and returns. A run that
crashes or times out leaves its lock behind until it expires, which is when that run's Lambda timeout
would have ended it, so no later run waits longer than one timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from seqserve_common.metrics import emit
from seqserve_common.state import CONDITION_FAILED

# The state table's key: no model name contains ":" (and untracked endpoints' items start "untracked:").
LOCK_KEY = "lock:reconciler"
SKIPPED_METRIC = "ReconcilerRunsSkipped"
# The metric dimension of app-wide reconciler metrics (as idle_checker.checker's).
APP_DIMENSION = "_app"
SKIPPED = {APP_DIMENSION: "skipped: another reconciler run holds the lock"}


class RunLock:
    def __init__(
        self,
        *,
        dynamodb: Any,
        table: str,
        clock: Callable[[], float],
        key: str = LOCK_KEY,
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._clock = clock
        self._key = key
        self._new_token = new_token

    def acquire(self, *, hold_seconds: float) -> str | None:
        """This run's token, the lock held for ``hold_seconds`` at most; None when another run holds it."""
        now = self._clock()
        token = self._new_token()
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "model": {"S": self._key},
                    "owner": {"S": token},
                    "acquired_at": {"N": repr(now)},
                    "expires_at": {"N": repr(now + hold_seconds)},
                },
                ConditionExpression="attribute_not_exists(#key) OR expires_at < :now",
                ExpressionAttributeNames={"#key": "model"},
                ExpressionAttributeValues={":now": {"N": repr(now)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == CONDITION_FAILED:
                return None
            raise
        return token

    def release(self, token: str) -> bool:
        """Delete the lock if this run still holds it; False when it expired and another run took it."""
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key={"model": {"S": self._key}},
                ConditionExpression="#owner = :token",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == CONDITION_FAILED:
                return False
            raise
        return True


def run_exclusively(
    lock: RunLock, run: Callable[[], dict[str, str]], *, hold_seconds: float, logger: Logger
) -> dict[str, str]:
    """``run()`` while holding ``lock``; when another run holds it, the skip is logged and counted."""
    token = lock.acquire(hold_seconds=hold_seconds)
    if token is None:
        logger.info("another reconciler run holds the lock: this one does nothing")
        emit(SKIPPED_METRIC, model=APP_DIMENSION)
        return dict(SKIPPED)
    try:
        return run()
    finally:
        try:
            if not lock.release(token):
                logger.warning("the reconciler lock expired before this run ended")
        except (ClientError, BotoCoreError):
            # It expires on its own; the next run after that takes it.
            logger.exception("releasing the reconciler lock failed")
