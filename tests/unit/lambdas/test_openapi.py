"""The OpenAPI document is generated from the routes and committed; the invoker's validation, the
document and the error bodies agree; CORS headers on every answer; evaluation read from the artifact."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import boto3
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambdas_testkit import REGION, api_event, call

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "docs" / "openapi.json"
ENDPOINT = "circrna-endpoint"


def committed() -> dict:
    return json.loads(COMMITTED.read_text())


def test_committed_document_is_current():
    from invoker.openapi_doc import committed_document, render

    assert COMMITTED.read_text() == render(committed_document()), "run `make openapi` and commit it"


def test_served_document_is_the_committed_one(invoker):
    answer = call(invoker, "GET", "/openapi.json")
    assert answer.status == 200
    assert answer.body == committed()


def test_document_lists_every_route_status_and_error_body():
    document = committed()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths) >= {
        "/",
        "/console",
        "/openapi.json",
        "/models",
        "/models/{name}/status",
        "/models/{name}/wake",
        "/models/{name}/predict",
        "/models/{name}/evaluation",
        "/models/{name}/confusion_matrix.png",
    }
    predict = paths["/models/{name}/predict"]["post"]["responses"]
    # 202: Prefer: respond-async queued the prediction as a job.
    assert set(predict) == {"200", "202", "400", "403", "404", "409", "413", "429", "502", "503", "504"}
    assert predict["202"]["headers"]["Location"]
    assert predict["503"]["headers"]["Retry-After"]["required"] is True
    assert paths["/models/{name}/wake"]["post"]["responses"]["202"]["headers"]["Retry-After"]
    for path, operations in paths.items():
        for operation in operations.values():
            responses = operation["responses"]
            # Powertools' 422 is our 400; the gateway's own answers are possible on every route.
            assert "422" not in responses, path
            assert {"403", "429", "502", "504"} <= set(responses), path
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


# --- the invoker's validation and the document's schema give the same verdicts ---------------------


def document_verdict(body: object) -> bool:
    document = committed()
    schema = {**document["paths"]["/models/{name}/predict"]["post"]["requestBody"]["content"]}
    validator = jsonschema.Draft202012Validator(
        {**schema["application/json"]["schema"], "components": document["components"]}
    )
    return validator.is_valid(body)


def invoker_verdict(app, body: str) -> bool:
    answer = call(app, "POST", "/models/circrna/predict", body)
    assert answer.status in (200, 400), (body, answer)
    if answer.status == 400:
        assert answer.body["error"]["code"] == "invalid_input"
        assert answer.body["error"]["message"]
    return answer.status == 200


CASES = [
    {"inputs": "ACGU"},
    {"inputs": "   "},
    {"inputs": ["ACGU", "GG"]},
    {"inputs": ["ACGU", " "]},
    {"inputs": {"text": "a", "text_pair": "b"}},
    {"inputs": [{"text": "a", "text_pair": "b"}], "parameters": {"top_k": 2}},
    {"inputs": "x", "parameters": {"top_k": None}},
    {"inputs": "x", "parameters": {}},
    {"inputs": "x", "parameters": None},
    {"inputs": "x", "parameters": {"top_k": 0}},
    {"inputs": "x", "parameters": {"top_k": True}},
    {"inputs": "x", "parameters": {"other": 1}},
    {"inputs": ["a", {"text": "a", "text_pair": "b"}]},
    {"inputs": [], "parameters": {}},
    {"inputs": None},
    {"inputs": 3},
    {"inputs": {"text": "a"}},
    {"inputs": {"text": "a", "text_pair": "b", "x": "c"}},
    {"inputs": [["a"]]},
    {},
    [],
    "ACGU",
    None,
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.sampled_from(["", " ", "ACGU", "a"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["inputs", "parameters", "text", "text_pair", "top_k", "x"]), children
        )
    ),
    max_leaves=8,
)


@pytest.mark.parametrize("body", CASES, ids=[json.dumps(c)[:40] for c in CASES])
def test_invoker_and_document_agree_on_each_case(aws, invoker, body):
    aws.create_endpoint(ENDPOINT)
    assert invoker_verdict(invoker, json.dumps(body)) == document_verdict(body)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.fixed_dictionaries({"inputs": json_values}, optional={"parameters": json_values}) | json_values
)
def test_invoker_and_document_agree_on_generated_bodies(aws, invoker, body):
    aws.create_endpoint(ENDPOINT)
    assert invoker_verdict(invoker, json.dumps(body)) == document_verdict(body)


def test_pydantic_errors_name_the_input_when_no_hand_check_does():
    from invoker.payload import describe_validation_error

    errors = [{"loc": ("body", "inputs", 1, "text"), "msg": "String should match pattern"}]
    assert describe_validation_error(errors) == "inputs[1].text: String should match pattern"
    assert describe_validation_error([]) == "request body is invalid"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/x-www-form-urlencoded", '{"inputs": "ACGU"}'), ("text/plain", '{"inputs": "ACGU"}')],
)
def test_body_is_json_whatever_content_type_says(aws, invoker, content_type, body):
    # curl -d sends a form content type; clients did so before the validation and keep working.
    aws.create_endpoint(ENDPOINT)
    event = api_event("POST", "/models/circrna/predict", body)
    event["headers"]["Content-Type"] = content_type
    response = invoker.resolve(event, None)
    assert response["statusCode"] == 200, response


def test_invalid_base64_body_is_400_not_500(aws, invoker):
    event = api_event("POST", "/models/circrna/predict", "%%%not-base64", base64_encoded=True)
    response = invoker.resolve(event, None)
    assert response["statusCode"] == 400
    assert "base64" in json.loads(response["body"])["error"]["message"]


# --- CORS ----------------------------------------------------------------------------------------


def with_origin(app, method: str, path: str, body: str | None = None, origin: str = "https://lab.example"):
    event = api_event(method, path, body)
    event["headers"]["Origin"] = origin
    response = app.resolve(event, None)
    return response["statusCode"], headers_of(response)


def headers_of(response: dict) -> dict[str, str]:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ", ".join(values)
    return headers


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/models", None, 200),
        ("POST", "/models/circrna/predict", '{"inputs": ""}', 400),
        ("GET", "/models/nope/status", None, 404),
        ("GET", "/nowhere", None, 404),
        ("POST", "/models/circrna/predict", '{"inputs": "ACGU"}', 503),
    ],
)
def test_every_answer_carries_cors_headers_and_exposes_retry_after(aws, invoker, method, path, body, status):
    got, headers = with_origin(invoker, method, path, body)
    assert got == status
    assert headers["access-control-allow-origin"] == "*"  # the tests' environment allows any origin
    assert "Retry-After" in headers["access-control-expose-headers"]
    if status == 503:
        assert int(headers["retry-after"]) > 0


def test_preflight_names_the_allowed_headers(invoker):
    status, headers = with_origin(invoker, "OPTIONS", "/models/circrna/predict")
    assert status == 204
    assert "X-Api-Key" in headers["access-control-allow-headers"]
    assert "POST" in headers["access-control-allow-methods"]


def test_origins_outside_the_configured_ones_get_no_cors_headers(aws, make_invoker, environ, monkeypatch):
    from aws_lambda_powertools import Logger
    from invoker.app import build_app
    from seqserve_common.settings import parse_settings

    settings = parse_settings({**environ, "CORS_ORIGINS": '["https://lab.example"]'})
    app = build_app(
        settings=settings,
        runtime=None,
        sagemaker=None,
        dynamodb=None,
        clock=float,
        logger=Logger(),
    )
    assert with_origin(app, "GET", "/models")[1]["access-control-allow-origin"] == "https://lab.example"
    assert (
        "access-control-allow-origin"
        not in with_origin(app, "GET", "/models", origin="https://evil.example")[1]
    )


def test_invoker_and_gateway_share_one_cors_policy():
    from invoker.app import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS

    from stacks import api_document

    assert tuple(CORS_ALLOW_HEADERS) == api_document.CORS_ALLOW_HEADERS
    assert tuple(CORS_EXPOSE_HEADERS) == api_document.CORS_EXPOSE_HEADERS


# --- console and evaluation ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/console"])
def test_console_page_is_served(invoker, path):
    response = invoker.resolve(api_event("GET", path), None)
    assert response["statusCode"] == 200
    assert headers_of(response)["content-type"].startswith("text/html")
    assert "<html" in response["body"]


def artifact(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.fixture
def artifact_app(aws, environ):
    from aws_lambda_powertools import Logger
    from invoker.app import build_app
    from seqserve_common.settings import parse_settings

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="artifacts")
    evaluation = {"accuracy": 0.9, "roc_auc": 0.95, "confusion_matrix": [[5, 1], [0, 4]]}
    s3.put_object(
        Bucket="artifacts",
        Key="circrna/model.tar.gz",
        Body=artifact(
            {
                "config.json": b"{}",
                "confusion_matrix.png": b"\x89PNG fake",
                "evaluation.json": json.dumps(evaluation).encode(),
                "model.safetensors": b"0" * 1000,
            }
        ),
    )
    aws.sagemaker.create_model(
        ModelName="circrna-with-data",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "image", "ModelDataUrl": "s3://artifacts/circrna/model.tar.gz"},
    )
    aws.sagemaker.create_endpoint_config(
        EndpointConfigName="circrna-config-2",
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": "circrna-with-data",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    aws.put_state("circrna", state="asleep", endpoint_config_name="circrna-config-2")
    app = build_app(
        settings=parse_settings(environ),
        runtime=None,
        sagemaker=aws.sagemaker,
        dynamodb=aws.dynamodb,
        clock=float,
        logger=Logger(),
        s3=s3,
    )
    return app, evaluation


def test_evaluation_is_read_from_the_served_artifact(artifact_app):
    app, evaluation = artifact_app
    answer = call(app, "GET", "/models/circrna/evaluation")
    assert (answer.status, answer.body) == (200, evaluation)
    response = app.resolve(api_event("GET", "/models/circrna/confusion_matrix.png"), None)
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    assert headers_of(response)["content-type"] == "image/png"


def test_evaluation_of_an_untrained_or_unknown_model_is_explained(artifact_app):
    app, _ = artifact_app
    answer = call(app, "GET", "/models/entailment/evaluation")
    assert (answer.status, answer.body["error"]["code"]) == (409, "not_trained")
    answer = call(app, "GET", "/models/nope/evaluation")
    assert (answer.status, answer.body["error"]["code"]) == (404, "unknown_model")


@pytest.mark.parametrize("name", ["ÿÞ§\U000c0e84ùÇ&", "a b"])
def test_model_name_outside_url_safe_characters_is_an_unknown_model_not_a_wrong_method(invoker, name):
    # Found by the fuzzer: such a name missed Powertools' route pattern and was answered "405, use GET".
    answer = call(invoker, "GET", f"/models/{name}/status")
    assert (answer.status, answer.body["error"]["code"]) == (404, "unknown_model")
