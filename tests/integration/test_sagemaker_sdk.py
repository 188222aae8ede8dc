"""The SageMaker Python SDK as a client of the local stack: a ``Predictor`` whose sagemaker-runtime
client is pointed at the local runtime gets what the REST API answers, errors included."""

from __future__ import annotations

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from sagemaker.deserializers import JSONDeserializer
from sagemaker.predictor import Predictor
from sagemaker.serializers import JSONSerializer
from sagemaker.session import Session

from local.aws import CREDENTIALS, REGION
from local.stack import LocalStack
from tests.integration.conftest import SEQUENCE, predict_until_awake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def predictor(stack: LocalStack) -> Predictor:
    boto_session = boto3.Session(region_name=REGION, **{k.lower(): v for k, v in CREDENTIALS.items()})
    session = Session(
        boto_session=boto_session,
        sagemaker_client=stack.client("sagemaker"),
        sagemaker_runtime_client=boto_session.client("sagemaker-runtime", endpoint_url=stack.runtime_url),
    )
    return Predictor(
        endpoint_name=stack.deployment.models["circrna"].endpoint_name,
        sagemaker_session=session,
        serializer=JSONSerializer(),
        deserializer=JSONDeserializer(),
    )


def test_a_predictor_gets_the_same_predictions_as_the_rest_api(
    stack: LocalStack, api: httpx.Client, predictor: Predictor
):
    assert predict_until_awake(stack, api).status_code == 200  # the endpoint exists only once woken
    for payload in (
        {"inputs": SEQUENCE},
        {"inputs": [SEQUENCE, SEQUENCE[::-1], "ACGTACGTAC"]},
        {"inputs": [SEQUENCE, "ACGTACGTAC"], "parameters": {"top_k": 2}},
    ):
        through_api = api.post("/models/circrna/predict", json=payload)
        assert through_api.status_code == 200
        assert predictor.predict(payload) == through_api.json()


def test_a_predictor_sees_the_containers_error_body(
    stack: LocalStack, api: httpx.Client, predictor: Predictor
):
    assert predict_until_awake(stack, api).status_code == 200
    bad = {"inputs": "ACGTXACGT"}
    through_api = api.post("/models/circrna/predict", json=bad)
    assert through_api.status_code == 400
    with pytest.raises(ClientError) as raised:
        predictor.predict(bad)
    error = raised.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 400
    assert through_api.json()["error"]["message"] in error["Error"]["Message"]
