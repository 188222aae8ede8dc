"""Injected AWS faults reach the real invoker Lambda, each KIND as the service's own fault would.

The invoker runs in a Lambda worker with a fault plan, against the embedded AWS and the local
sagemaker-runtime; no model is served (the runtime answers "not found", the invoker wakes the model),
so no model is trained for these tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from starlette.testclient import TestClient

from local import rest_api, runtime
from local.aws import CREDENTIALS, REGION, MotoServer, aws_environment
from local.faults import parse_fault, plan_argument
from local.lambda_pool import LambdaFunction
from local.resources import Deployment, create_deployment
from local.sagemaker_timing import EndpointTimes, ManualClock
from local.settings import local_config
from local.stack import LAMBDA_CODE, _HttpServer
from stacks.lambda_environment import INVOKER_TIMEOUT_SECONDS
from stacks.naming import service_stack_name

from .conftest import SEQUENCE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CREATE = "SageMaker.CreateEndpoint"


@dataclass
class Invoker:
    moto: MotoServer
    deployment: Deployment
    api: TestClient

    @property
    def endpoint_name(self) -> str:
        return self.deployment.models["circrna"].endpoint_name

    def endpoints(self) -> dict[str, str]:
        sagemaker = moto_client(self.moto, "sagemaker")
        return {e["EndpointName"]: e["EndpointStatus"] for e in sagemaker.list_endpoints()["Endpoints"]}

    def predict(self):
        return self.api.post("/models/circrna/predict", json={"inputs": SEQUENCE})

    def state(self) -> str:
        item = moto_client(self.moto, "dynamodb").get_item(
            TableName=self.deployment.table, Key={"model": {"S": "circrna"}}
        )
        return item["Item"]["state"]["S"]


def moto_client(moto: MotoServer, service: str):
    """A client of the embedded AWS without faults: the tests' own view of it."""
    return boto3.client(
        service,
        endpoint_url=moto.url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def untrained_model(directory: Path) -> Path:
    """Enough of a model directory to package as model.tar.gz; no model server loads it here."""
    directory.mkdir()
    (directory / "seqserve.json").write_text('{"preset": "circrna", "labels": ["circRNA", "lncRNA"]}')
    (directory / "config.json").write_text("{}")
    (directory / "model.safetensors").write_bytes(b"not weights")
    return directory


@pytest.fixture
def invoker_with(tmp_path: Path) -> Iterator:
    started: list = []

    def start(*faults: str) -> Invoker:
        moto = MotoServer(
            endpoint_times=EndpointTimes(create_seconds=2, delete_seconds=2), clock=ManualClock()
        )
        moto.start()
        started.append(moto)
        config = local_config(context={}, presets={"circrna": "circrna"}, idle_minutes=1)
        clients = {
            name: moto_client(moto, name) for name in ("s3", "dynamodb", "sns", "events", "sagemaker", "sqs")
        }
        deployment = create_deployment(
            clients=clients,
            config=config,
            stack_name=service_stack_name(config.prefix),
            model_dirs={"circrna": untrained_model(tmp_path / "model")},
        )
        router = runtime.ContainerRouter(sagemaker=clients["sagemaker"], servers=lambda: {})
        sagemaker_runtime = _HttpServer(app=runtime.create_app(router=router), name="sagemaker-runtime")
        sagemaker_runtime.start()
        started.append(sagemaker_runtime)
        function = LambdaFunction(
            name="invoker",
            code_dir=LAMBDA_CODE,
            handler="invoker.handler.handler",
            environment={
                **aws_environment(moto_url=moto.url, runtime_url=sagemaker_runtime.url),
                **deployment.lambda_environment(),
                "POWERTOOLS_SERVICE_NAME": "invoker",
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
            concurrency=1,
            timeout_seconds=INVOKER_TIMEOUT_SECONDS,
            log_dir=tmp_path,
            fault_plan=plan_argument([parse_fault(fault) for fault in faults], seed=7),
        )
        function.warm()
        started.append(function)
        return Invoker(
            moto=moto, deployment=deployment, api=TestClient(rest_api.create_app(invoke=function.invoke))
        )

    yield start
    for part in reversed(started):
        part.stop()


def assert_retry_later(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert int(response.headers["retry-after"]) > 0
    assert set(response.json()["error"]) == {"code", "message"}


def test_a_throttled_endpoint_call_is_a_429_and_never_read_as_endpoint_down(invoker_with) -> None:
    invoker = invoker_with("InvokeEndpoint:throttle:1")
    assert_retry_later(invoker.predict(), 429)
    assert invoker.predict().json()["error"]["code"] == "throttled"
    # Invariant 5: throttling is not "missing", so nothing was created.
    assert invoker.moto.calls.count(CREATE) == 0


def test_a_5xx_from_the_runtime_is_a_503_and_never_read_as_endpoint_down(invoker_with) -> None:
    invoker = invoker_with("InvokeEndpoint:error:1")
    assert_retry_later(invoker.predict(), 503)
    assert invoker.moto.calls.count(CREATE) == 0


def test_a_create_that_times_out_never_reached_sagemaker(invoker_with) -> None:
    invoker = invoker_with("CreateEndpoint:timeout:1")
    response = invoker.predict()
    # The invoker waited its client's read timeout on both attempts; the client gets an answer, not a 500.
    assert response.status_code in {502, 503, 504}, response.text
    assert "error" in response.json()
    assert invoker.moto.calls.count(CREATE) == 0
    assert invoker.endpoints() == {}


def test_a_create_whose_answer_is_lost_took_effect(invoker_with) -> None:
    invoker = invoker_with("CreateEndpoint:lost:1")
    response = invoker.predict()
    assert response.status_code in {502, 503, 504}, response.text
    # The one attempt the invoker's budget allows reached SageMaker and created the endpoint; the invoker
    # never saw the answer, so the model stays waking and the reconciler takes it from there.
    assert invoker.moto.calls.count(CREATE) == 1
    assert invoker.endpoints() == {invoker.endpoint_name: "Creating"}
    assert invoker.state() == "waking"
