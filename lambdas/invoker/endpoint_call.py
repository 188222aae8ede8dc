"""One call to a model's endpoint, and what each SageMaker answer means for the client.

Only "not found" and "not in service" mean the endpoint is down (the caller then wakes it).
Throttling, AccessDenied and SageMaker's own faults never do: waking on them would create endpoints
that exist (invariant 5).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
)
from seqserve_common.endpoints import THROTTLING_CODES, error_code, error_message

from invoker.api_error import RETRY_THROTTLED_SECONDS, RETRY_UNAVAILABLE_SECONDS, ApiError

UNAVAILABLE_CODES = frozenset({"InternalFailure", "ServiceUnavailable", "InternalDependencyException"})
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"})
# ModelNotReadyException: the endpoint is up but its model is still loading.
NOT_READY_CODES = frozenset({"ModelNotReadyException"})


class EndpointDown(Exception):
    """SageMaker says the endpoint does not exist or is not in service."""


class ModelAnswered(ApiError):
    """The container answered with an error: the endpoint was used, and the client gets the error."""


def _is_endpoint_down(error: ClientError) -> bool:
    message = error_message(error).lower()
    return error_code(error) in {"ValidationError", "ValidationException"} and (
        "not found" in message or "not in service" in message
    )


def _container_error(model: str, error: ClientError) -> ModelAnswered:
    status = error.response.get("OriginalStatusCode")
    original = error.response.get("OriginalMessage") or ""
    try:
        body = json.loads(original)
        code, message = body["error"]["code"], body["error"]["message"]
    except (ValueError, TypeError, KeyError):
        code, message = None, None
    # SageMaker reports a container that did not answer within its 60 s as status 0, "timed out"; the
    # container's own server answers 504 when a request outlives its SAGEMAKER_MODEL_SERVER_TIMEOUT.
    if status in (0, 504) or "timed out" in original.lower():
        return ModelAnswered(504, "model_timeout", f"model {model} did not answer in time; retry later")
    if isinstance(status, int) and 400 <= status < 500:
        if not isinstance(code, str) or not isinstance(message, str):
            code, message = "invalid_input", original or f"model {model} rejected the request"
        return ModelAnswered(status, code, message)
    # A crash's message may hold a traceback; only a structured error message reaches the client.
    detail = message if isinstance(message, str) else "see the endpoint's logs"
    return ModelAnswered(502, "model_error", f"model {model} failed on this request: {detail}")


def _starting(model: str, retry_after: int) -> ApiError:
    return ApiError(
        503,
        "starting",
        f"model {model}'s serverless endpoint is starting a container (cold start); retry later",
        retry_after=retry_after,
    )


def invoke(
    runtime: Any, *, model: str, endpoint_name: str, body: bytes, starting_retry_after: int | None = None
) -> str:
    """The endpoint's JSON answer; raises EndpointDown, ModelAnswered or ApiError.

    ``starting_retry_after`` (serverless endpoints): a cold start of a large image and model outlasts
    the invoker's read budget, so a read timeout or a model not loaded yet answers 503 ``starting``
    with that Retry-After, as a sleeping on_demand model does, instead of 504 or 429.
    """
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name, ContentType="application/json", Accept="application/json", Body=body
        )
        payload = response["Body"].read()
    except IncompleteReadError:
        raise ApiError(502, "model_error", f"model {model}'s answer was cut short; retry") from None
    except ReadTimeoutError:
        if starting_retry_after is not None:
            raise _starting(model, starting_retry_after) from None
        raise ApiError(504, "model_timeout", f"model {model} did not answer in time; retry later") from None
    except (ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError):
        raise ApiError(
            503,
            "unavailable",
            f"could not reach SageMaker to call model {model}; retry later",
            retry_after=RETRY_UNAVAILABLE_SECONDS,
        ) from None
    except ClientError as error:
        code = error_code(error)
        if _is_endpoint_down(error):
            raise EndpointDown(error_message(error)) from None
        if code == "ModelError":
            raise _container_error(model, error) from None
        if code in NOT_READY_CODES and starting_retry_after is not None:
            raise _starting(model, starting_retry_after) from None
        if code in THROTTLING_CODES or code in NOT_READY_CODES:
            raise ApiError(
                429,
                "throttled",
                f"SageMaker is throttling calls to model {model}; retry later",
                retry_after=RETRY_THROTTLED_SECONDS,
            ) from None
        if code in UNAVAILABLE_CODES:
            raise ApiError(
                503,
                "unavailable",
                f"SageMaker could not serve model {model} ({code}); retry later",
                retry_after=RETRY_UNAVAILABLE_SECONDS,
            ) from None
        if code in DENIED_CODES:
            raise ApiError(
                502,
                "access_denied",
                f"this API is not allowed to call model {model}'s endpoint; the deployment must be fixed",
            ) from None
        raise ApiError(502, "model_error", f"SageMaker rejected the call to model {model} ({code})") from None
    try:
        text = payload.decode("utf-8")
        json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(502, "model_error", f"model {model} answered with something other than JSON") from None
    return text
