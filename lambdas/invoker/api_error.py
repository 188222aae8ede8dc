"""Errors the API answers with DESIGN.md's body: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import Response

RETRY_WAKING_SECONDS = 30
RETRY_THROTTLED_SECONDS = 2
RETRY_UNAVAILABLE_SECONDS = 5
# A serverless endpoint's container starting (cold start) for a request that timed out.
RETRY_STARTING_SECONDS = 10


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, retry_after=self.retry_after)


def error_response(status: int, code: str, message: str, *, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return json_response(status, {"error": {"code": code, "message": message}}, headers=headers)


def json_response(status: int, body: object, *, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status, content_type="application/json", body=json.dumps(body), headers=headers
    )
