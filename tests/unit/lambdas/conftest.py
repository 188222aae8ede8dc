"""Fixtures for the Lambda tests. The Lambda asset is the ``lambdas/`` folder, so its packages are
imported from there as on AWS; plain helpers live in ``lambdas_testkit`` next to this file."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE.parents[2] / "lambdas", HERE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from lambdas_testkit import DEPLOYMENT, MODELS, TABLE, Aws, Clock, FakeRuntime  # noqa: E402
from moto import mock_aws  # noqa: E402


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_SERVICE_NAME": "seqserve-test",
        "POWERTOOLS_METRICS_NAMESPACE": "seqserve",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def moto_module() -> Iterator[tuple[Any, Aws, FakeRuntime]]:
    """One moto mock per test module, so it never outlives this folder's tests in a shared worker."""
    mock = mock_aws()
    mock.start()
    try:
        aws = Aws.connect()
        yield mock, aws, FakeRuntime(sagemaker=aws.sagemaker, client=aws.runtime)
    finally:
        mock.stop()


@pytest.fixture
def aws(moto_module: tuple[Any, Aws, FakeRuntime]) -> Aws:
    mock, aws, runtime = moto_module
    mock.reset()
    runtime.reset()
    aws.provision()
    return aws


@pytest.fixture
def environ(aws: Aws) -> dict[str, str]:
    return {
        "STATE_TABLE": TABLE,
        "MODELS": json.dumps(MODELS),
        "NOTIFY_TOPIC_ARN": aws.topic_arn,
        "MAX_INPUTS": "8",
        "MAX_BODY_BYTES": "4096",
        "DEPLOYMENT_NAME": DEPLOYMENT,
    }


@pytest.fixture
def runtime(aws: Aws, moto_module: tuple[Any, Aws, FakeRuntime]) -> FakeRuntime:
    return moto_module[2]


@pytest.fixture
def make_invoker(aws: Aws, runtime: FakeRuntime, clock: Clock, environ: dict[str, str]) -> Callable[..., Any]:
    """A fresh invoker app, as one warm Lambda container with its own coalescing memory.

    The containers share boto3 clients (thread-safe) because making one costs ~70 ms.
    """
    from aws_lambda_powertools import Logger
    from invoker.app import build_app
    from seqserve_common.settings import parse_settings

    def make(*, dynamodb: Any = None, sagemaker: Any = None) -> Any:
        return build_app(
            settings=parse_settings(environ),
            runtime=runtime.client,
            sagemaker=sagemaker or aws.sagemaker,
            dynamodb=dynamodb or aws.dynamodb,
            clock=clock,
            logger=Logger(),
        )

    return make


@pytest.fixture
def invoker(make_invoker: Callable[..., Any]) -> Any:
    return make_invoker()


@pytest.fixture
def make_checker(aws: Aws, clock: Clock, environ: dict[str, str]) -> Callable[..., Any]:
    from aws_lambda_powertools import Logger
    from idle_checker.checker import IdleChecker
    from seqserve_common.settings import parse_settings

    def make(*, sagemaker: Any = None, dynamodb: Any = None) -> Any:
        return IdleChecker(
            settings=parse_settings(environ),
            sagemaker=sagemaker or aws.sagemaker,
            dynamodb=dynamodb or aws.dynamodb,
            sns=aws.sns,
            clock=clock,
            logger=Logger(),
        )

    return make


@pytest.fixture
def checker(make_checker: Callable[..., Any]) -> Any:
    return make_checker()
