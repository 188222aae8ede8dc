"""Lambda workers: own environment, one event at a time, errors and timeouts as Lambda reports them."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local.lambda_pool import LambdaError, LambdaFunction, LambdaTimeout

pytestmark = pytest.mark.integration

HANDLER = """
import os
import sys
import time

STARTED_PID = os.getpid()


if os.path.exists(os.environ.get("FAIL_COLD_START", "/nonexistent")):
    raise RuntimeError("cold start refused")


def handler(event, context):
    if event.get("raise"):
        raise ValueError("bad event")
    time.sleep(event.get("sleep", 0))
    return {
        "pid": os.getpid(),
        "cold_pid": STARTED_PID,
        "environment": sorted(os.environ),
        "function": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "sees_repository": any(os.path.isdir(os.path.join(p, "local")) for p in sys.path if p),
    }
"""


@pytest.fixture
def function(tmp_path: Path) -> Iterator[LambdaFunction]:
    code = tmp_path / "code" / "probe"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("")
    (code / "handler.py").write_text(HANDLER)
    running = LambdaFunction(
        name="probe",
        code_dir=code.parent,
        handler="probe.handler.handler",
        environment={
            "AWS_REGION": "us-east-1",
            "ONLY_THIS": "1",
            "FAIL_COLD_START": str(tmp_path / "refuse"),
        },
        concurrency=2,
        timeout_seconds=2,
        log_dir=tmp_path,
    )
    running.warm()
    yield running
    running.stop()


def test_the_handler_sees_only_its_environment_and_code(function: LambdaFunction) -> None:
    result = function.invoke({})
    assert result["function"] == "probe"
    assert "ONLY_THIS" in result["environment"]
    assert "PYTEST_CURRENT_TEST" not in result["environment"]
    assert not result["sees_repository"]
    assert 0 < result["remaining_ms"] <= 2000
    # Warm: the module was imported once, in the process that handles the events.
    assert result["pid"] == result["cold_pid"]


def test_concurrent_events_run_in_separate_workers(function: LambdaFunction) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(function.invoke, [{"sleep": 0.5}, {"sleep": 0.5}]))
    assert len({result["pid"] for result in results}) == 2
    assert {result["pid"] for result in results} == set(function.pids)


def test_an_unhandled_error_is_reported_and_the_worker_stays(function: LambdaFunction) -> None:
    before = set(function.pids)
    with pytest.raises(LambdaError, match="ValueError: bad event"):
        function.invoke({"raise": True})
    assert set(function.pids) == before
    log = function.log_file.read_text()
    assert "Traceback" in log and "bad event" in log
    assert function.invoke({})["function"] == "probe"


def test_a_timeout_discards_the_worker_and_the_next_event_gets_a_fresh_one(function: LambdaFunction) -> None:
    before = set(function.pids)
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(function.invoke, {"sleep": 10})
        with pytest.raises(LambdaTimeout):
            slow.result(timeout=20)
    after = set(function.pids)
    assert len(after) == 2
    assert len(before & after) == 1
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(function.invoke, [{"sleep": 0.2}, {"sleep": 0.2}]))
    assert {result["pid"] for result in results} == after


def test_a_replacement_that_fails_its_cold_start_is_retried_by_the_next_event(
    function: LambdaFunction, tmp_path: Path
) -> None:
    refuse = tmp_path / "refuse"
    refuse.touch()
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(function.invoke, {"sleep": 10})
        # The event's own error, not the replacement's.
        with pytest.raises(LambdaTimeout):
            slow.result(timeout=20)
    refuse.unlink()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(function.invoke, [{"sleep": 0.2}, {"sleep": 0.2}]))
    assert len({result["pid"] for result in results}) == 2
    assert {result["pid"] for result in results} == set(function.pids)
