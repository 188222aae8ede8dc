"""What the SageMaker control plane says about an endpoint, with "not found" told apart from faults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


@dataclass(frozen=True, kw_only=True)
class EndpointStatus:
    # None when the endpoint does not exist.
    status: str | None
    failure_reason: str | None = None

    @property
    def exists(self) -> bool:
        return self.status is not None


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def is_missing_endpoint(error: ClientError) -> bool:
    """SageMaker's control plane answers a missing endpoint with ValidationException "Could not find"."""
    return error_code(error) in {"ValidationException", "ValidationError"} and (
        "could not find" in error_message(error).lower()
    )


def describe_endpoint(sagemaker: Any, name: str) -> EndpointStatus:
    """The endpoint's status; any error other than "not found" (throttling, access) propagates."""
    try:
        described = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if is_missing_endpoint(error):
            return EndpointStatus(status=None)
        raise
    return EndpointStatus(status=described["EndpointStatus"], failure_reason=described.get("FailureReason"))


def delete_endpoint(sagemaker: Any, name: str) -> bool:
    """Delete the endpoint; False if it was already gone (an overlapping run deleted it)."""
    try:
        sagemaker.delete_endpoint(EndpointName=name)
    except ClientError as error:
        if is_missing_endpoint(error):
            return False
        raise
    return True


# SageMaker's unclear answers: the call may or may not have taken effect.
TRANSIENT_CODES = THROTTLING_CODES | {"InternalFailure", "ServiceUnavailable", "InternalServerError"}
# An endpoint in one of these never serves again by itself: the failure path deletes it.
BAD_STATUSES = frozenset({"Failed", "OutOfService", "RollingBack", "UpdateRollbackFailed"})
# On its way to InService (or back to it after an update).
PENDING_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating"})


def already_exists(error: ClientError) -> bool:
    message = error_message(error).lower()
    return error_code(error) in {"ValidationException", "ValidationError"} and (
        "already existing" in message or "already exists" in message
    )


def list_endpoint_names(sagemaker: Any, prefix: str) -> list[str]:
    """Every endpoint whose name starts with ``prefix`` (NameContains also matches mid-name)."""
    names: list[str] = []
    for page in sagemaker.get_paginator("list_endpoints").paginate(NameContains=prefix):
        names.extend(e["EndpointName"] for e in page["Endpoints"] if e["EndpointName"].startswith(prefix))
    return names
