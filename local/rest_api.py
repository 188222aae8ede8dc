"""A local REST API: each HTTP request becomes API Gateway's REST proxy event for the invoker Lambda.

The resources are the API's routes (DESIGN.md, REST API). As on API Gateway, a path or method outside
them answers 403 ``Missing Authentication Token``; with an API key (``api.auth: api_key``) a request
without that key in ``x-api-key`` answers 403 ``Forbidden``, except the public pages (the console and
the API document) and CORS preflights; a Lambda that raises answers 502 ``Internal server error``. All
in the error body the deployed API's gateway responses give them (``stacks.gateway_errors``);
everything else is the Lambda's own response.

The API is served at the root (no stage in the path), and the events say so: ``requestContext.path``
is the request's path, as on a custom domain mapped at its root, while ``stage`` is the deployed one.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stacks.api_document import PUBLIC_PATHS, STAGE, cors_headers, load_document, preflight_headers, routes
from stacks.gateway_errors import CLIENT_ERROR, FORBIDDEN, GATEWAY_ERROR, error_body

from .aws import ACCOUNT_ID
from .lambda_pool import LambdaTimeout

API_ID = "local"


@dataclass(frozen=True, kw_only=True)
class Resource:
    path: str
    methods: tuple[str, ...]

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


# The API's routes as the committed OpenAPI document lists them (stacks/api.py deploys the same).
RESOURCES = tuple(Resource(path=path, methods=methods) for path, methods in routes(load_document()).items())


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _match(path: str, method: str) -> tuple[Resource, dict[str, str]] | None:
    for resource in RESOURCES:
        found = resource.pattern.match(path)
        if found and method in resource.methods:
            return resource, found.groupdict()
    return None


def _multi(items: list[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not items:
        return None, None
    multi: dict[str, list[str]] = {}
    for key, value in items:
        multi.setdefault(key, []).append(value)
    return {key: values[-1] for key, values in multi.items()}, multi


def proxy_event(
    *, request: Request, body: bytes, resource: Resource, path_parameters: dict[str, str]
) -> dict[str, Any]:
    """API Gateway's REST (v1) Lambda proxy event for this request."""
    headers, multi_headers = _multi([(key.title(), value) for key, value in request.headers.items()])
    query, multi_query = _multi(list(request.query_params.multi_items()))
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = datetime.now(UTC)
    client = request.client
    return {
        "resource": resource.path,
        "path": request.url.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": resource.path,
            "resourcePath": resource.path,
            "httpMethod": request.method,
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": request.url.path,
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": API_ID,
            "requestTimeEpoch": int(time.time() * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                "sourceIp": client.host if client else "127.0.0.1",
                "userAgent": request.headers.get("user-agent"),
                "apiKey": request.headers.get("x-api-key"),
            },
            "domainName": request.url.netloc,
            "apiId": API_ID,
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


def proxy_response(result: Any) -> Response:
    """The Lambda's proxy result as HTTP; a malformed one is API Gateway's 502."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return _json(502, error_body(GATEWAY_ERROR, "Internal server error"))
    headers: dict[str, str] = {}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key] = ",".join(str(value) for value in values)
    headers.update({key: str(value) for key, value in (result.get("headers") or {}).items()})
    body = result.get("body") or ""
    content = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    return Response(content, status_code=result["statusCode"], headers=headers)


def create_app(
    *,
    invoke: Callable[[dict[str, Any]], Any],
    cors_origins: tuple[str, ...] = ("*",),
    api_key: str | None = None,
) -> Starlette:
    """``api_key``: the one key the API accepts (None: no key needed, as with ``api.auth: iam``, whose
    SigV4 the local stack does not check)."""

    def key_missing(request: Request, resource: Resource) -> bool:
        if api_key is None or resource.path in PUBLIC_PATHS:
            return False
        given = request.headers.get("x-api-key", "")
        return not hmac.compare_digest(given.encode(), api_key.encode())

    async def handle(request: Request) -> Response:
        origin = request.headers.get("origin")
        if request.method == "OPTIONS" and any(r.pattern.match(request.url.path) for r in RESOURCES):
            # API Gateway answers preflights itself (a mock integration), without auth or the Lambda.
            return Response(status_code=204, headers=preflight_headers(cors_origins, origin))
        cors = cors_headers(cors_origins, origin)
        matched = _match(request.url.path, request.method)
        if matched is None:
            return _json(403, error_body(CLIENT_ERROR, "Missing Authentication Token"), cors)
        resource, path_parameters = matched
        if key_missing(request, resource):
            return _json(403, error_body(CLIENT_ERROR, FORBIDDEN), cors)
        event = proxy_event(
            request=request, body=await request.body(), resource=resource, path_parameters=path_parameters
        )
        try:
            result = await run_in_threadpool(invoke, event)
        except LambdaTimeout:
            return _json(504, error_body(GATEWAY_ERROR, "Endpoint request timed out"), cors)
        except Exception:
            # API Gateway hides a failed invocation behind this answer; the Lambda's log has the cause.
            return _json(502, error_body(GATEWAY_ERROR, "Internal server error"), cors)
        response = proxy_response(result)
        if response.status_code == 502 and "access-control-allow-origin" not in response.headers:
            response.headers.update(cors)
        return response

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", handle, methods=methods)])
