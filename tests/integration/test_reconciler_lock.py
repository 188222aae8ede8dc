"""The local stack keeps the reconciler's runs apart as AWS does now (no reserved concurrency): the
function's run lock in the state table, with overlapping invocations possible in its Lambda pool."""

from __future__ import annotations

import time

import pytest

from local.stack import IDLE_CHECKER_CONCURRENCY, LocalStack

pytestmark = [pytest.mark.integration]

# lambdas/seqserve_common/run_lock.py's key and answer (that module imports as the Lambda sees it).
LOCK_KEY = "lock:reconciler"
SKIPPED = {"_app": "skipped: another reconciler run holds the lock"}


def test_an_invocation_that_finds_the_lock_held_skips_and_one_after_its_release_reconciles(
    stack: LocalStack,
) -> None:
    assert IDLE_CHECKER_CONCURRENCY > 1 and len(stack.idle_checker.pids) == IDLE_CHECKER_CONCURRENCY
    dynamodb = stack.client("dynamodb")
    table = stack.deployment.table
    # Another run's lock, as a run in flight (or one that crashed less than a timeout ago) leaves it.
    dynamodb.put_item(
        TableName=table,
        Item={
            "model": {"S": LOCK_KEY},
            "owner": {"S": "another-run"},
            "expires_at": {"N": str(time.time() + 600)},
        },
    )
    try:
        assert stack.idle_checker.invoke({"source": "aws.events"}) == SKIPPED
    finally:
        dynamodb.delete_item(TableName=table, Key={"model": {"S": LOCK_KEY}})
    # The stack's own timer fires every half second and may hold the lock for a moment: a few tries.
    deadline = time.monotonic() + 30
    while (answer := stack.idle_checker.invoke({"source": "aws.events"})) == SKIPPED:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert answer == {"circrna": "asleep"}
