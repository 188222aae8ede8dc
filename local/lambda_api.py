"""The Lambda Invoke API of the local stack: ``POST /2015-03-31/functions/{name}/invocations``.

The invoker calls a model's serving function with boto3's lambda client (lambdas/invoker/
function_call.py); ``AWS_ENDPOINT_URL_LAMBDA`` points it here, and this runs the function in the local
Lambda pool. Answers as Lambda does for a synchronous (RequestResponse) call: 200 with the handler's
result; 200 with ``X-Amz-Function-Error: Unhandled`` when the handler raised, its worker died or it ran
past its timeout; 404 ``ResourceNotFoundException`` for a function the stack does not run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .lambda_pool import LambdaError, LambdaTimeout

INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        json.dumps({"Type": "User", "message": message}),
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-ErrorType": code},
    )


def _function_error(kind: str, message: str) -> Response:
    return Response(
        json.dumps({"errorType": kind, "errorMessage": message}),
        status_code=200,
        media_type="application/json",
        headers={"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"},
    )


def create_app(*, functions: Callable[[], Mapping[str, Any]]) -> Starlette:
    """``functions``: the stack's functions by name (each with ``invoke(event)``), read per request."""

    async def invoke(request: Request) -> Response:
        # FunctionName may be the name or the function's ARN (``...:function:NAME``).
        name = request.path_params["name"].rsplit(":function:", 1)[-1]
        function = functions().get(name)
        if function is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        kind = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if kind != "RequestResponse":
            return _error(
                400, "InvalidParameterValueException", f"the local stack runs {kind} calls not at all"
            )
        try:
            event = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
        try:
            result = await run_in_threadpool(function.invoke, event)
        except LambdaTimeout as timeout:
            return _function_error("Sandbox.Timedout", str(timeout))
        except LambdaError as error:
            return _function_error("Runtime.Unhandled", str(error))
        return Response(
            json.dumps(result),
            status_code=200,
            media_type="application/json",
            headers={"X-Amz-Executed-Version": "$LATEST"},
        )

    return Starlette(routes=[Route(INVOKE_PATH, invoke, methods=["POST"])])
