"""The local REST API's translation between HTTP and API Gateway's REST proxy event and result.

The Lambda here is a recording function: these tests pin the adapter's side of the contract, which
the end-to-end tests exercise with the real invoker.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.testclient import TestClient

from local.lambda_pool import LambdaTimeout
from local.rest_api import create_app

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self, result: Any = None, error: Exception | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._result = result or {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": "{}",
        }
        self._error = error

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if self._error is not None:
            raise self._error
        return self._result


def test_a_request_becomes_the_rest_proxy_event() -> None:
    lambda_ = Recorder()
    client = TestClient(create_app(invoke=lambda_))
    response = client.post(
        "/models/circrna/predict?debug=1&tag=a&tag=b",
        content=b'{"inputs": "ACGT"}',
        headers={"Content-Type": "application/json", "X-Api-Key": "k"},
    )
    assert response.status_code == 200
    [event] = lambda_.events
    assert event["resource"] == "/models/{name}/predict"
    assert event["path"] == "/models/circrna/predict"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"name": "circrna"}
    assert event["queryStringParameters"] == {"debug": "1", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"debug": ["1"], "tag": ["a", "b"]}
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueHeaders"]["X-Api-Key"] == ["k"]
    assert event["body"] == '{"inputs": "ACGT"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["resourcePath"] == "/models/{name}/predict"
    # Served at the root: the event says so (as a custom domain mapped at its root), with the deployed
    # stage's name, so the invoker's Location carries no stage locally and /v1 on the stage URL.
    assert context["stage"] == "v1"
    assert context["path"] == "/models/circrna/predict"
    assert context["identity"]["apiKey"] == "k"
    assert context["requestId"]


def test_a_get_without_body_or_query() -> None:
    lambda_ = Recorder()
    TestClient(create_app(invoke=lambda_)).get("/models")
    [event] = lambda_.events
    assert event["body"] is None
    assert event["pathParameters"] is None
    assert event["queryStringParameters"] is None


def test_a_binary_body_is_base64() -> None:
    lambda_ = Recorder()
    TestClient(create_app(invoke=lambda_)).post("/models/x/predict", content=b"\xff\xfe")
    [event] = lambda_.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_the_proxy_result_becomes_the_response() -> None:
    result = {
        "statusCode": 503,
        "headers": {"Content-Type": "application/json", "Retry-After": "30"},
        "multiValueHeaders": {"X-Seen": ["a", "b"]},
        "body": '{"error": {"code": "waking", "message": "waking"}}',
    }
    response = TestClient(create_app(invoke=Recorder(result=result))).post("/models/x/predict")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.headers["x-seen"] == "a,b"
    assert response.json()["error"]["code"] == "waking"


@pytest.mark.parametrize(
    "lambda_",
    [Recorder(error=RuntimeError("boom")), Recorder(result={"body": "no status"})],
    ids=["raises", "malformed"],
)
def test_a_failed_invocation_is_api_gateways_502(lambda_: Recorder) -> None:
    response = TestClient(create_app(invoke=lambda_)).get("/models")
    assert response.status_code == 502
    assert response.json() == {"error": {"code": "gateway_error", "message": "Internal server error"}}


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/elsewhere"), ("PUT", "/models"), ("GET", "/models/x/predict")]
)
def test_outside_the_routes_is_missing_authentication_token(method: str, path: str) -> None:
    lambda_ = Recorder()
    response = TestClient(create_app(invoke=lambda_)).request(method, path)
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "client_error", "message": "Missing Authentication Token"}}
    assert lambda_.events == []


def test_a_function_timeout_is_api_gateways_504() -> None:
    response = TestClient(create_app(invoke=Recorder(error=LambdaTimeout("29 s")))).get("/models")
    assert response.status_code == 504
    assert response.json() == {"error": {"code": "gateway_error", "message": "Endpoint request timed out"}}


def test_preflight_is_answered_by_the_gateway_with_the_cors_policy() -> None:
    lambda_ = Recorder()
    client = TestClient(create_app(invoke=lambda_, cors_origins=("https://lab.example",)))
    response = client.options(
        "/models/circrna/predict",
        headers={
            "Origin": "https://lab.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://lab.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "X-Api-Key" in response.headers["access-control-allow-headers"]
    assert lambda_.events == []  # as API Gateway's mock integration: the Lambda never sees it


@pytest.mark.parametrize(
    ("error", "status"), [(None, 403), (LambdaTimeout("slow"), 504), (RuntimeError("x"), 502)]
)
def test_gateway_errors_carry_cors_headers_for_allowed_origins(error, status) -> None:
    lambda_ = Recorder(error=error) if error else Recorder()
    client = TestClient(create_app(invoke=lambda_, cors_origins=("https://lab.example",)))
    path = "/models/circrna/predict" if error else "/elsewhere"
    response = client.post(path, content=b"{}", headers={"Origin": "https://lab.example"})
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == "https://lab.example"
    assert "Retry-After" in response.headers["access-control-expose-headers"]
    other = client.post(path, content=b"{}", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}, {"X-Api-Key": KEY.upper()}])
def test_with_an_api_key_a_request_without_it_is_refused_as_api_gateway_refuses_it(headers) -> None:
    lambda_ = Recorder()
    client = TestClient(create_app(invoke=lambda_, cors_origins=("https://lab.example",), api_key=KEY))
    for method, path in (("GET", "/models"), ("POST", "/models/circrna/predict"), ("GET", "/jobs/abc")):
        response = client.request(method, path, headers={**headers, "Origin": "https://lab.example"})
        assert response.status_code == 403
        assert response.json() == {"error": {"code": "client_error", "message": "Forbidden"}}
        assert response.headers["access-control-allow-origin"] == "https://lab.example"
    assert lambda_.events == []


def test_with_an_api_key_the_key_passes_and_the_pages_and_preflights_need_none() -> None:
    lambda_ = Recorder()
    client = TestClient(create_app(invoke=lambda_, api_key=KEY))
    assert client.get("/models", headers={"X-Api-Key": KEY}).status_code == 200
    assert lambda_.events[-1]["requestContext"]["identity"]["apiKey"] == KEY
    for path in ("/", "/console", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    preflight = client.options(
        "/models/circrna/predict",
        headers={"Origin": "https://lab.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    # Outside the routes the answer stays API Gateway's, key or not.
    assert client.get("/nowhere").json()["error"]["message"] == "Missing Authentication Token"
    assert len(lambda_.events) == 4
