"""The full cycle through the REST API: wake, predict, batch, bad input, status, sleep, wake again, with
endpoints that take time to come and go (Creating, Deleting) on a clock the tests move."""

from __future__ import annotations

import json
import time

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from local.aws import ACCOUNT_ID, CREDENTIALS, REGION
from local.stack import LocalStack

from .conftest import ENDPOINT_TIMES, SEQUENCE, endpoint_clock, predict_until_awake

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OTHER = "GGCCTTAAGGCCTTAGCGCGATATCGCGTTAACCGGTTAACGCGATCGATGCATGCAAGC"


def endpoint_status(stack: LocalStack) -> str | None:
    """The model's endpoint status as ListEndpoints shows it; None when there is none."""
    name = stack.deployment.models["circrna"].endpoint_name
    statuses = {
        e["EndpointName"]: e["EndpointStatus"]
        for e in stack.client("sagemaker").list_endpoints()["Endpoints"]
    }
    return statuses.get(name)


def wait_for_state(api: httpx.Client, state: str, *, timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while api.get("/models/circrna/status").json()["state"] != state:
        assert time.monotonic() < deadline, why
        time.sleep(0.5)


def runtime_client(stack: LocalStack):
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=stack.runtime_url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def test_models_lists_the_served_model(api: httpx.Client) -> None:
    response = api.get("/models")
    assert response.status_code == 200
    assert [(m["model"], m["preset"]) for m in response.json()["models"]] == [("circrna", "circrna")]


def test_full_cycle(stack: LocalStack, api: httpx.Client) -> None:
    clock = endpoint_clock(stack)
    status = api.get("/models/circrna/status").json()
    assert status["state"] == "asleep"
    assert endpoint_status(stack) is None

    first = api.post("/models/circrna/predict", json={"inputs": SEQUENCE})
    assert first.status_code == 503
    assert first.json()["error"]["code"] == "waking"
    assert int(first.headers["retry-after"]) > 0
    assert endpoint_status(stack) == "Creating"

    # Still Creating: the runtime does not serve it, the client is told to come back, nothing is re-created.
    clock.advance(ENDPOINT_TIMES.create_seconds / 2)
    again = api.post("/models/circrna/predict", json={"inputs": SEQUENCE})
    assert again.status_code == 503
    assert int(again.headers["retry-after"]) > 0
    assert endpoint_status(stack) == "Creating"
    assert stack.moto.calls.count("SageMaker.CreateEndpoint") == 1

    clock.advance(ENDPOINT_TIMES.create_seconds / 2)
    assert endpoint_status(stack) == "InService"
    prediction = api.post("/models/circrna/predict", json={"inputs": SEQUENCE})
    assert prediction.status_code == 200
    [answer] = prediction.json()
    assert answer["label"] in {"circRNA", "lncRNA"}
    assert 0.0 <= answer["score"] <= 1.0

    batch = api.post(
        "/models/circrna/predict", json={"inputs": [SEQUENCE, OTHER], "parameters": {"top_k": 2}}
    )
    assert batch.status_code == 200
    for ranked in batch.json():
        assert sorted(entry["label"] for entry in ranked) == ["circRNA", "lncRNA"]
        assert ranked[0]["score"] >= ranked[1]["score"]
    # The batch's best entry for SEQUENCE is the lone prediction: answers do not depend on the batch.
    assert batch.json()[0][0]["label"] == answer["label"]
    assert batch.json()[0][0]["score"] == pytest.approx(answer["score"], abs=1e-4)
    # The model scores the two inputs far more than that tolerance apart (0.07 measured for this
    # training), so the agreement is not that of a model scoring every input alike.
    circ = [next(e["score"] for e in ranked if e["label"] == "circRNA") for ranked in batch.json()]
    assert abs(circ[0] - circ[1]) > 0.01

    bad = api.post("/models/circrna/predict", json={"inputs": "HELLO, WORLD!"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_input"
    assert "inputs" in bad.json()["error"]["message"]

    wait_for_state(api, "awake", timeout=30, why="the idle check never marked the endpoint awake")
    awake = api.get("/models/circrna/status").json()
    assert awake["idle_minutes"] == 1
    assert awake["last_invoked_at"] is not None

    # Idle for idle_minutes plus the invoker's write-coalescing slack, then one check period: the check
    # deletes the endpoint, which stays Deleting (the clock stands still) while the model is sleeping.
    wait_for_state(api, "sleeping", timeout=120, why="the idle model never started sleeping")
    # The check writes "sleeping" (its claim) and then calls DeleteEndpoint: on a loaded machine the
    # status can be read between the two.
    deadline = time.monotonic() + 10
    while endpoint_status(stack) != "Deleting":
        assert time.monotonic() < deadline, "the sleeping model's endpoint was not deleted"
        time.sleep(0.1)
    # A check or two while it is Deleting leaves it so.
    time.sleep(1.5)
    assert api.get("/models/circrna/status").json()["state"] == "sleeping"
    assert endpoint_status(stack) == "Deleting"
    # (A check may repeat the delete of a Deleting endpoint; what counts is that one was asked for.)
    assert stack.moto.calls.count("SageMaker.DeleteEndpoint") >= 1

    clock.advance(ENDPOINT_TIMES.delete_seconds)
    assert endpoint_status(stack) is None
    wait_for_state(api, "asleep", timeout=30, why="the model never fell asleep once its endpoint was gone")

    woken = api.post("/models/circrna/predict", json={"inputs": SEQUENCE})
    assert woken.status_code == 503
    assert woken.json()["error"]["code"] == "waking"
    assert int(woken.headers["retry-after"]) > 0
    assert endpoint_status(stack) == "Creating"
    assert predict_until_awake(stack, api).json()[0]["label"] == answer["label"]
    assert stack.moto.calls.count("SageMaker.CreateEndpoint") == 2


def assert_not_found(stack: LocalStack, name: str) -> None:
    with pytest.raises(ClientError) as raised:
        runtime_client(stack).invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "ValidationError"
    assert error["Error"]["Message"] == f"Endpoint {name} of account {ACCOUNT_ID} not found."


def test_runtime_answers_a_missing_endpoint_as_sagemaker_does(stack: LocalStack) -> None:
    assert_not_found(stack, "no-such-endpoint")


def test_runtime_serves_an_endpoint_only_while_it_is_in_service(stack: LocalStack) -> None:
    from moto.sagemaker.models import sagemaker_backends

    sagemaker = stack.client("sagemaker")
    config = stack.deployment.models["circrna"].endpoint_config_name
    body = {"inputs": SEQUENCE}
    sagemaker.create_endpoint(EndpointName="probe", EndpointConfigName=config)
    assert sagemaker.describe_endpoint(EndpointName="probe")["EndpointStatus"] == "Creating"
    assert_not_found(stack, "probe")
    endpoint_clock(stack).advance(ENDPOINT_TIMES.create_seconds)
    served = runtime_client(stack).invoke_endpoint(
        EndpointName="probe", ContentType="application/json", Body=json.dumps(body)
    )
    assert json.loads(served["Body"].read())[0]["label"] in {"circRNA", "lncRNA"}
    # The statuses SageMaker reaches on its own (moto never does): set in moto's backend.
    endpoint = sagemaker_backends[ACCOUNT_ID][REGION].endpoints["probe"]
    for status in ("Failed", "OutOfService"):
        endpoint.endpoint_status = status
        assert_not_found(stack, "probe")
    endpoint.endpoint_status = "InService"
    sagemaker.delete_endpoint(EndpointName="probe")
    assert sagemaker.describe_endpoint(EndpointName="probe")["EndpointStatus"] == "Deleting"
    assert_not_found(stack, "probe")
    endpoint_clock(stack).advance(ENDPOINT_TIMES.delete_seconds)
    assert_not_found(stack, "probe")


def test_unknown_routes_answer_like_api_gateway(api: httpx.Client) -> None:
    for method, path in (("GET", "/nowhere"), ("DELETE", "/models/circrna/status")):
        response = api.request(method, path)
        assert response.status_code == 403
        assert response.json() == {
            "error": {"code": "client_error", "message": "Missing Authentication Token"}
        }


def test_unknown_model_is_404(api: httpx.Client) -> None:
    response = api.post("/models/nope/predict", json={"inputs": SEQUENCE})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_model"


def test_creating_an_existing_endpoint_is_refused_as_sagemaker_does(stack: LocalStack) -> None:
    sagemaker = stack.client("sagemaker")
    config = stack.deployment.models["circrna"].endpoint_config_name
    sagemaker.create_endpoint(EndpointName="twice", EndpointConfigName=config)
    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint(EndpointName="twice", EndpointConfigName=config)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Cannot create already existing endpoint" in raised.value.response["Error"]["Message"]
    # Deleting still holds the name, as on SageMaker; once gone, it is free.
    sagemaker.delete_endpoint(EndpointName="twice")
    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint(EndpointName="twice", EndpointConfigName=config)
    assert "Cannot create already existing endpoint" in raised.value.response["Error"]["Message"]
    endpoint_clock(stack).advance(ENDPOINT_TIMES.delete_seconds)
    sagemaker.create_endpoint(EndpointName="twice", EndpointConfigName=config)
    assert sagemaker.describe_endpoint(EndpointName="twice")["EndpointStatus"] == "Creating"


def test_the_default_runtime_serves_the_model_with_onnx_runtime(stack: LocalStack, api: httpx.Client) -> None:
    # serving.runtime defaults to onnx for a CPU model the pipeline trains; local training then exports
    # and checks model.onnx, as the training job does, and the model server loads it without torch.
    model = stack.deployment.models["circrna"]
    assert model.config.serving.runtime == "onnx"
    settings = json.loads((model.model_dir / "seqserve.json").read_text())
    assert settings["onnx"]["parity"]["passed"] is True and (model.model_dir / "model.onnx").is_file()
    assert predict_until_awake(stack, api).status_code == 200
    log = (stack.options.log_dir / "model-server-circrna.log").read_text()
    assert f"serving {model.model_dir} with ONNX Runtime" in log and "with torch" not in log
