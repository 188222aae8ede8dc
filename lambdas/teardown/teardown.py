"""On deleting the service stack: delete every endpoint this deployment owns, and wait until they are gone.

on_demand endpoints are created by the Lambdas, not by CloudFormation, so deleting the stack would
remove the reconciler and leave an awake endpoint billing by the hour. This is the CDK Provider
framework's on_event handler: Create and Update do nothing; Delete deletes every endpoint whose name
has the app's prefix and whose ``seqserve:deployment`` tag names this deployment (another deployment
sharing the prefix is never touched, and IAM allows DeleteEndpoint only on the tag), then waits within
the function's timeout until SageMaker lists none of them. An endpoint still there at the deadline
fails the Delete with its name, so ``cdk destroy`` reports it rather than leaving it billing unseen.

The endpoint configurations and models stay: they cost nothing, CloudFormation deletes its own, and
the training pipeline's run-named ones are the record of past trainings (README, "Tearing down").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.endpoints import (
    DELETING_STATUSES,
    TRANSIENT_CODES,
    describe_endpoint,
    endpoint_tags,
    error_code,
    list_endpoints,
)
from seqserve_common.ownership import owner_of

REQUEST_TYPES = ("Create", "Update", "Delete")


class TeardownRequestError(ValueError):
    """CloudFormation (through the Provider framework) sent an event this function cannot act on."""


class EndpointsRemain(RuntimeError):
    """Endpoints of this deployment still exist at the deadline; the Delete fails naming them."""


@dataclass(frozen=True, kw_only=True)
class TeardownRequest:
    request_type: str
    physical_id: str | None

    @classmethod
    def parse(cls, event: Any) -> TeardownRequest:
        if not isinstance(event, Mapping) or event.get("RequestType") not in REQUEST_TYPES:
            got = event.get("RequestType") if isinstance(event, Mapping) else event
            raise TeardownRequestError(
                f"event.RequestType: expected one of {', '.join(REQUEST_TYPES)}, got {got!r}"
            )
        physical_id = event.get("PhysicalResourceId")
        return cls(
            request_type=event["RequestType"],
            physical_id=physical_id if isinstance(physical_id, str) else None,
        )


@dataclass(kw_only=True)
class Teardown:
    sagemaker: Any
    deployment: str
    prefix: str
    logger: Logger
    # How long Delete waits for SageMaker to finish deleting, and how often it looks.
    wait_seconds: float
    poll_seconds: float
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _deleted: set[str] = field(default_factory=set)

    def run(self, request: TeardownRequest) -> dict[str, Any]:
        physical_id = request.physical_id or f"{self.deployment}-endpoint-teardown"
        if request.request_type != "Delete":
            return {"PhysicalResourceId": physical_id}
        deleted = self.delete_all()
        return {"PhysicalResourceId": physical_id, "Data": {"Deleted": ",".join(deleted)}}

    def owned(self) -> list[str]:
        """This deployment's endpoints, by its tag (the prefix only narrows the listing)."""
        names = []
        for endpoint in list_endpoints(self.sagemaker, self.prefix):
            tags = endpoint_tags(self.sagemaker, endpoint.arn)
            if tags is not None and owner_of(tags) == self.deployment:
                names.append(endpoint.name)
        return names

    def delete_all(self) -> list[str]:
        """Delete every owned endpoint; return once SageMaker lists none (their names, sorted)."""
        deadline = self.clock() + self.wait_seconds
        while True:
            try:
                remaining = self.owned()
            except (ClientError, BotoCoreError) as error:
                # A listing that failed for now (throttled, a 5xx, a timeout, an endpoint that vanished
                # between ListEndpoints and ListTags): look again at the next poll, within the deadline.
                if not _transient(error) or self.clock() >= deadline:
                    raise
                self.logger.warning("listing this deployment's endpoints failed for now", exc_info=True)
                self.sleep(self.poll_seconds)
                continue
            if not remaining:
                self.logger.info(
                    "no endpoint of this deployment remains", extra={"deleted": sorted(self._deleted)}
                )
                return sorted(self._deleted)
            for name in remaining:
                self._delete(name)
            if self.clock() >= deadline:
                raise EndpointsRemain(
                    f"endpoints of deployment {self.deployment} still exist after {self.wait_seconds:g} s: "
                    f"{', '.join(sorted(remaining))}; delete them with aws sagemaker delete-endpoint "
                    "--endpoint-name NAME, then delete the stack again"
                )
            self.sleep(self.poll_seconds)

    def _delete(self, name: str) -> None:
        try:
            status = describe_endpoint(self.sagemaker, name)
            if not status.exists or status.status in DELETING_STATUSES:
                return
            self.sagemaker.delete_endpoint(EndpointName=name)
        except ClientError as error:
            # Throttling, or an endpoint SageMaker will not delete yet (Creating, Updating): the next
            # look retries it; anything else (AccessDenied) is a real failure.
            if error_code(error) in TRANSIENT_CODES or error_code(error) in {
                "ValidationException",
                "ValidationError",
            }:
                self.logger.warning(
                    "endpoint not deleted yet", extra={"endpoint": name, "code": error_code(error)}
                )
                return
            raise
        self._deleted.add(name)
        self.logger.info("deleting endpoint", extra={"endpoint": name})


def _transient(error: ClientError | BotoCoreError) -> bool:
    """Worth another look: throttling and server errors (any 5xx), and connection or read failures."""
    if isinstance(error, BotoCoreError):
        return True
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return error_code(error) in TRANSIENT_CODES or status >= 500
