"""One call to a model's serving function (lambdas/model_server, issue 21), and what its answer means.

The function gets ``{"body": <the exact JSON the endpoint's /invocations would get>, "content_type":
"application/json"}`` and answers ``{"status": 200|400|502, "body": <JSON>, "content_type": ...}``.
Its 400 and 502 carry the endpoint's error shape, so the client gets them as the endpoint's own.
Anything that is not such an answer (a FunctionError, throttling, a timeout, a call that cannot be
made) means the function could not answer in time: ``None``, and the caller falls back.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.endpoints import error_code
from seqserve_common.metrics import emit

from invoker.endpoint_call import ModelAnswered

ANSWERED_ERRORS = frozenset({400, 502})


def call_function(
    lambda_client: Any, *, model: str, function: str, body: bytes, logger: Logger
) -> str | None:
    """The function's 200 JSON body; raises ModelAnswered for its 400/502; None when it could not answer."""
    event = {"body": body.decode("utf-8"), "content_type": "application/json"}
    try:
        response = lambda_client.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode("utf-8")
        )
        payload = response["Payload"].read()
    except ClientError as error:
        # TooManyRequestsException (throttled), ResourceNotFound, AccessDenied, service faults.
        return _unanswered(model, function, logger, reason=error_code(error))
    except BotoCoreError as error:
        # Read and connect timeouts: the function did not answer within the invoker's budget.
        return _unanswered(model, function, logger, reason=type(error).__name__)
    if response.get("FunctionError"):
        # Out of memory, past its timeout, or a crash: the error payload is the function's, not the client's.
        return _unanswered(model, function, logger, reason=f"FunctionError {response['FunctionError']}")
    try:
        answer = json.loads(payload)
        status, text = answer["status"], answer["body"]
        json.loads(text)
    except (ValueError, TypeError, KeyError):
        return _unanswered(model, function, logger, reason="an answer that is not the serving contract")
    if status == 200:
        return text
    if status in ANSWERED_ERRORS:
        error = json.loads(text).get("error") if isinstance(json.loads(text), dict) else None
        if (
            isinstance(error, dict)
            and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)
        ):
            raise ModelAnswered(status, error["code"], error["message"])
    return _unanswered(model, function, logger, reason=f"status {status!r}")


def _unanswered(model: str, function: str, logger: Logger, *, reason: str) -> None:
    logger.warning(
        "the serving function could not answer",
        extra={"model": model, "function": function, "reason": reason},
    )
    emit("ServingFunctionUnanswered", model=model)
    return None
