"""The responses each route documents: declared once per status, with DESIGN.md's error body.

API Gateway's own answers (403, 429, 502, 504, in the same body: stacks/gateway_errors.py) are added to
every route, since a client can get them from any. The routes (app.py, job_routes.py,
operator_routes.py) import this; nothing here imports them.
"""

from __future__ import annotations

from typing import Any

from invoker.api_models import ErrorBody

RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
        "required": True,
    }
}
ERRORS: dict[int, tuple[str, dict[str, Any] | None]] = {
    400: ("invalid input: the message names the input at fault and why (code invalid_input)", None),
    404: ("unknown model (unknown_model) or a file the model's artifact does not hold (not_found)", None),
    409: ("the model has no endpoint configuration yet (not_trained) or never sleeps (not_on_demand)", None),
    413: ("too many inputs (too_many_inputs) or a body too large (payload_too_large)", None),
    503: (
        "the model is waking (waking, sleeping) or a backing service is unavailable (unavailable)",
        RETRY_AFTER,
    ),
}
# API Gateway's own answers (stacks/api.py GATEWAY_ERRORS), possible on every route.
GATEWAY: dict[int, tuple[str, dict[str, Any] | None]] = {
    403: ("missing or invalid API key, or a path outside the API (client_error)", None),
    429: (
        "throttled by the API's rate limit or SageMaker (throttled), or the daily quota (quota_exceeded)",
        None,
    ),
    502: ("the model failed (model_error, access_denied) or the gateway could not call the API", None),
    504: ("the model or the gateway timed out (model_timeout, gateway_error)", None),
}


def _error(description: str, headers: dict[str, Any] | None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"model": ErrorBody}},
    }
    if headers:
        response["headers"] = headers
    return response


def responses(
    status: int,
    description: str,
    *,
    model: type | None = None,
    media_type: str = "application/json",
    headers: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (),
) -> dict[int, dict[str, Any]]:
    """A route's ``responses=``: its success, the listed errors and the gateway's own errors."""
    content: dict[str, Any] = {"model": model} if model is not None else {"schema": {"type": "string"}}
    if model is None and media_type == "application/json":
        content = {"schema": {"type": "object"}}
    if media_type == "image/png":
        content = {"schema": {"type": "string", "format": "binary"}}
    ok: dict[str, Any] = {"description": description, "content": {media_type: content}}
    if headers:
        ok["headers"] = headers
    documented = {status: ok}
    for code in errors:
        documented[code] = _error(*ERRORS[code])
    for code, (text, extra) in GATEWAY.items():
        documented.setdefault(code, _error(text, extra))
    return documented
