"""Shared fixtures: one tiny circrna model trained per test session, and local stacks serving it."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from filelock import FileLock

from local.sagemaker_timing import EndpointTimes, ManualClock
from local.settings import local_config
from local.stack import LocalStack, StackOptions
from local.training import train_circrna
from stacks.naming import service_stack_name

# Tiny on purpose: these tests exercise the serving path, not model quality.
# Two epochs at a high learning rate: the circrna model's reading-frame branch and MLP head score every
# input alike after one epoch at the default rate (0.5025 vs 0.5034), which would make the parity checks
# of the tests below vacuous; this training scores SEQUENCE and test_lifecycle's OTHER 0.07 apart.
TINY = {
    "epochs": "2",
    "learning_rate": "0.01",
    "batch_size": "16",
    "hidden_size": "16",
    "num_hidden_layers": "1",
    "num_attention_heads": "2",
    "intermediate_size": "32",
}
SEQUENCE = "ATGGCGTACGTTAGCCTAGGCTAACGGTACGATCGATCGGCTAGCTAGGATCCGATCG"
# Non-zero, as SageMaker's are; on a clock the tests move, so no test sleeps them out.
ENDPOINT_TIMES = EndpointTimes(create_seconds=2.0, delete_seconds=2.0)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained once per session; pytest-xdist workers share it through their common temporary root."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "circrna-tiny"
    done = root / "trained"
    with FileLock(f"{root}.lock"):
        if not done.exists():
            train_circrna(
                work_dir=root,
                log_file=root / "train.log",
                n_per_class=40,
                length_range=(150, 400),
                hyperparameters=TINY,
            )
            done.touch()
    return root / "model"


def stack_options(
    *,
    model_dir: Path,
    log_dir: Path,
    check_every_seconds: float,
    clock: ManualClock | None = None,
    bridge: bool = False,
) -> StackOptions:
    """``bridge``: whether a sleeping model answers through its serving function (issue 21); off here, so
    these stacks hold today's 503 + Retry-After contract of a model without one (tests of the bridge
    turn it on)."""
    config = local_config(context={}, presets={"circrna": "circrna"}, idle_minutes=1)
    if not bridge:
        models = tuple(
            dataclasses.replace(model, serving=dataclasses.replace(model.serving, bridge=False))
            for model in config.models
        )
        config = dataclasses.replace(config, models=models)
    return StackOptions(
        config=config,
        stack_name=service_stack_name(config.prefix),
        model_dirs={"circrna": model_dir},
        log_dir=log_dir,
        check_every_seconds=check_every_seconds,
        endpoint_times=ENDPOINT_TIMES,
        endpoint_clock=clock,
    )


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = stack_options(
        model_dir=trained_model,
        log_dir=tmp_path_factory.mktemp("stack-logs"),
        check_every_seconds=0.5,
        clock=ManualClock(),
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def wall_clock_stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The stack with endpoints that change status on the wall clock: where a person (or a client
    following Retry-After) waits in real time, and nobody moves a test clock."""
    options = stack_options(
        model_dir=trained_model, log_dir=tmp_path_factory.mktemp("stack-logs"), check_every_seconds=0.5
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(base_url=stack.api_url, timeout=60, limits=limits, headers=key_header(stack)) as client:
        yield client


def key_header(stack: LocalStack) -> dict[str, str]:
    """The local API checks the key as API Gateway does (api.auth is api_key here)."""
    assert stack.api_key is not None
    return {"x-api-key": stack.api_key}


def endpoint_clock(stack: LocalStack) -> ManualClock:
    clock = stack.options.endpoint_clock
    assert isinstance(clock, ManualClock)
    return clock


def predict_until_awake(stack: LocalStack, api: httpx.Client, *, timeout: float = 60.0) -> httpx.Response:
    """Follow 503 + Retry-After until a 200: the endpoints' clock moves by Retry-After, no one sleeps it."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.post("/models/circrna/predict", json={"inputs": SEQUENCE})
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        retry_after = int(response.headers["retry-after"])
        assert retry_after > 0
        endpoint_clock(stack).advance(retry_after)
        time.sleep(0.2)


def destroy_while_time_passes(stack: LocalStack, clock: ManualClock) -> dict:
    """``stack.destroy()`` while the endpoints' clock moves, as SageMaker deletes them in its own time."""
    answer: dict = {}
    destroying = threading.Thread(target=lambda: answer.update(stack.destroy()))
    destroying.start()
    deadline = time.monotonic() + 120
    while destroying.is_alive():
        assert time.monotonic() < deadline, "the teardown never returned"
        clock.advance(ENDPOINT_TIMES.delete_seconds / 4)
        time.sleep(0.3)
    destroying.join()
    assert "Data" in answer, "the teardown failed"
    return answer
