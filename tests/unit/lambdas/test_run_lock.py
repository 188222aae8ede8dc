"""The reconciler's run lock (seqserve_common.run_lock): runs never overlap without reserved concurrency."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
from aws_lambda_powertools import Logger
from lambdas_testkit import TABLE, Context
from seqserve_common.run_lock import LOCK_KEY, SKIPPED, SKIPPED_METRIC, RunLock, run_exclusively

TIMEOUT_SECONDS = 120.0


@pytest.fixture
def lock(aws, clock) -> RunLock:
    return RunLock(dynamodb=aws.dynamodb, table=TABLE, clock=clock)


def emitted_metrics(output: str) -> list[str]:
    names = []
    for line in output.splitlines():
        if line.startswith("{") and "_aws" in line:
            record = json.loads(line)
            names += [m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    return names


def test_a_run_that_finds_the_lock_held_does_not_reconcile_and_counts_a_metric(aws, lock, capsys):
    assert lock.acquire(hold_seconds=TIMEOUT_SECONDS) is not None
    runs = []
    result = run_exclusively(
        lock, lambda: runs.append(1) or {}, hold_seconds=TIMEOUT_SECONDS, logger=Logger()
    )
    assert result == SKIPPED and runs == []
    assert emitted_metrics(capsys.readouterr().out) == [SKIPPED_METRIC]


def test_the_lock_is_released_at_the_end_of_a_run_even_one_that_fails(aws, lock):
    runs = []
    for _ in range(2):
        assert run_exclusively(
            lock,
            lambda: runs.append(1) or {"circrna": "asleep"},
            hold_seconds=TIMEOUT_SECONDS,
            logger=Logger(),
        ) == {"circrna": "asleep"}
    assert runs == [1, 1] and aws.item(LOCK_KEY) == {}

    def crash() -> dict[str, str]:
        raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError):
        run_exclusively(lock, crash, hold_seconds=TIMEOUT_SECONDS, logger=Logger())
    assert aws.item(LOCK_KEY) == {}


def test_a_crashed_runs_lock_expires_after_its_timeout_and_cannot_release_its_successors(aws, lock, clock):
    crashed = lock.acquire(hold_seconds=TIMEOUT_SECONDS)
    assert crashed is not None
    clock.advance(TIMEOUT_SECONDS - 1)
    assert lock.acquire(hold_seconds=TIMEOUT_SECONDS) is None
    clock.advance(2)
    successor = lock.acquire(hold_seconds=TIMEOUT_SECONDS)
    assert successor not in (None, crashed)
    # The crashed run, had it woken up late, may not delete the lock its successor now holds.
    assert lock.release(crashed) is False
    assert aws.item(LOCK_KEY)["owner"]["S"] == successor
    assert lock.release(successor) is True


def test_the_handler_holds_the_lock_for_its_remaining_time_and_skips_while_another_run_holds_it(
    aws, environ, monkeypatch, clock
):
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("idle_checker.handler", None)
    module = importlib.import_module("idle_checker.handler")
    reconciled = []
    real_run = module.checker.run
    monkeypatch.setattr(module.checker, "run", lambda: reconciled.append(1) or real_run())
    other = RunLock(dynamodb=aws.dynamodb, table=TABLE, clock=module.time.time)
    token = other.acquire(hold_seconds=60)
    assert module.handler({"source": "aws.events"}, Context(function_name="idle-checker")) == SKIPPED
    assert reconciled == []
    assert other.release(token)

    seen = []
    real_acquire = module.lock.acquire
    monkeypatch.setattr(module.lock, "acquire", lambda **kw: seen.append(kw) or real_acquire(**kw))
    result = module.handler(
        {"source": "aws.events"}, Context(function_name="idle-checker", remaining_millis=90_000)
    )
    assert result == {"circrna": "asleep", "entailment": "asleep"}
    assert seen == [{"hold_seconds": 90.0}] and reconciled == [1]
    assert aws.item(LOCK_KEY) == {}
