"""The OpenAPI document Powertools generates from a resolver's typed routes (served as GET /openapi.json).

Powertools writes paths, parameters and request bodies from the typed signatures, and the responses
from each route's ``responses=`` (invoker/api_responses.py).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

TITLE = "seqserve"
VERSION = "1"


def openapi_document(app: APIGatewayRestResolver, *, server_url: str | None = None) -> dict[str, Any]:
    """The document, without Powertools' 422: request validation errors answer 400 (api_error.py)."""
    document = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=(
                "Predict with, inspect and wake seqserve's models. Every error answers "
                '{"error": {"code", "message"}}. With api.auth = api_key, send the key as x-api-key.'
            ),
            # Relative to where the document is served: /openapi.json locally, /v1/openapi.json on AWS.
            servers=[Server(url=server_url or "./")],
            security_schemes={"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        )
    )
    for path in document.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
