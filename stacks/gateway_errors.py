"""API Gateway's own error answers in the API's error body ``{"error": {"code", "message"}}``.

No aws_cdk import: ``stacks/api.py`` puts these codes in the gateway responses it deploys, and
``local/rest_api.py`` answers with the same bodies, so a client sees one error shape on AWS and locally.
"""

from __future__ import annotations

# DEFAULT_4XX, e.g. 403 "Missing Authentication Token" for a path or method outside the routes.
CLIENT_ERROR = "client_error"
# API Gateway's message for a missing or wrong API key (INVALID_API_KEY, answered through DEFAULT_4XX).
FORBIDDEN = "Forbidden"
# DEFAULT_5XX: 502 when the Lambda invocation fails, 504 when the integration times out.
GATEWAY_ERROR = "gateway_error"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}
