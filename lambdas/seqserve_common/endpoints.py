"""What the SageMaker control plane says about an endpoint, with "not found" told apart from faults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from seqserve_common.ownership import tag_map

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
    # ListTags takes the ARN; None when the endpoint does not exist (or a stub left it out).
    arn: str | None = None

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
    return EndpointStatus(
        status=described["EndpointStatus"],
        failure_reason=described.get("FailureReason"),
        arn=described.get("EndpointArn"),
    )


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
# Every EndpointStatus SageMaker documents falls in exactly one of these (docs/internals.md, the table).
# Serving: the endpoint answers requests. Updating, SystemUpdating and RollingBack serve the current (or
# previous) configuration while SageMaker changes it; UpdateRollbackFailed serves the configuration it
# rolled back to. None of them is a failure, and a wake that finds one is done.
SERVING_STATUSES = frozenset(
    {"InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"}
)
# On its way to InService for the first time.
CREATING_STATUSES = frozenset({"Creating"})
DELETING_STATUSES = frozenset({"Deleting"})
# Never serves again by itself: the failure path deletes it.
BAD_STATUSES = frozenset({"Failed", "OutOfService"})
ALL_STATUSES = SERVING_STATUSES | CREATING_STATUSES | DELETING_STATUSES | BAD_STATUSES


def already_exists(error: ClientError) -> bool:
    message = error_message(error).lower()
    return error_code(error) in {"ValidationException", "ValidationError"} and (
        "already existing" in message or "already exists" in message
    )


@dataclass(frozen=True, kw_only=True)
class ListedEndpoint:
    name: str
    arn: str
    # Tells a recreated endpoint of the same name apart (the owner cache is keyed by it).
    created: str


def list_endpoints(sagemaker: Any, prefix: str) -> list[ListedEndpoint]:
    """Every endpoint whose name starts with ``prefix`` (NameContains also matches mid-name)."""
    found: list[ListedEndpoint] = []
    for page in sagemaker.get_paginator("list_endpoints").paginate(NameContains=prefix):
        found.extend(
            ListedEndpoint(name=e["EndpointName"], arn=e["EndpointArn"], created=str(e.get("CreationTime")))
            for e in page["Endpoints"]
            if e["EndpointName"].startswith(prefix)
        )
    return found


def endpoint_tags(sagemaker: Any, arn: str) -> dict[str, str] | None:
    """The endpoint's tags (ListTags takes the ARN); None when it no longer exists."""
    tags: dict[str, str] = {}
    try:
        for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
            tags.update(tag_map(page.get("Tags", [])))
    except ClientError as error:
        # Gone since it was listed (SageMaker's wording for a missing ARN varies): None, so the caller
        # skips it this run, which never deletes anything.
        if error_code(error) in {"ValidationException", "ValidationError", "ResourceNotFound"}:
            return None
        raise
    return tags
