"""The committed OpenAPI document (docs/openapi.json, written by ``make openapi`` from the invoker's
routes) as the API's resources, request model and CORS policy.

No aws_cdk import: ``stacks/api.py`` builds API Gateway's resources, methods and predict request model
from it, and ``local/rest_api.py`` the local REST API's, so the gateway, the local stack and the invoker
(which generates the document) serve one contract.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
PREDICT_PATH = "/models/{name}/predict"
METHODS = ("get", "post", "put", "delete", "patch")
# Browsers may send these headers and read these answers' headers across origins (the invoker's
# CORSConfig sends the same: tests/unit/stacks/test_api_document.py).
CORS_ALLOW_HEADERS = (
    "Content-Type",
    "X-Api-Key",
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "Prefer",
)
CORS_EXPOSE_HEADERS = ("Retry-After", "Allow", "X-Served-By")
CORS_ALLOW_METHODS = ("GET", "POST", "DELETE", "OPTIONS")
# Pages a browser opens by navigating, which cannot carry an API key: served without auth.
PUBLIC_PATHS = frozenset({"/", "/console", "/openapi.json"})
# The deployed stage: the API's URL is <execute-api endpoint>/v1/ (the local stack serves at its root).
STAGE = "v1"


@cache
def load_document(path: Path = DOCUMENT) -> dict[str, Any]:
    return json.loads(path.read_text())


def routes(document: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Path template -> its methods (upper case), in the document's order."""
    return {
        path: tuple(method.upper() for method in METHODS if method in operations)
        for path, operations in document["paths"].items()
    }


def _inline(node: Any, schemas: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(schemas[node["$ref"].rsplit("/", 1)[-1]], schemas)
        return {
            key: _inline(value, schemas) for key, value in node.items() if key not in ("title", "description")
        }
    if isinstance(node, list):
        return [_inline(value, schemas) for value in node]
    return node


def request_schema(document: Mapping[str, Any], path: str = PREDICT_PATH) -> dict[str, Any]:
    """The JSON Schema of a route's request body with every $ref inlined (API Gateway models are
    draft 4 documents of their own)."""
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return _inline(body, document.get("components", {}).get("schemas", {}))


def cors_headers(origins: Sequence[str], origin: str | None) -> dict[str, str]:
    """The CORS headers of an answer to a request from ``origin`` (none for an origin not allowed)."""
    if not origin or ("*" not in origins and origin not in origins):
        return {}
    return {
        # As Powertools' CORSConfig answers: the origin itself when listed, else "*".
        "Access-Control-Allow-Origin": origin if origin in origins else "*",
        "Access-Control-Allow-Headers": ",".join(sorted(CORS_ALLOW_HEADERS)),
        "Access-Control-Expose-Headers": ",".join(CORS_EXPOSE_HEADERS),
        "Vary": "Origin",
    }


def preflight_headers(origins: Sequence[str], origin: str | None) -> dict[str, str]:
    headers = cors_headers(origins, origin)
    if headers:
        headers["Access-Control-Allow-Methods"] = ",".join(CORS_ALLOW_METHODS)
    return headers
