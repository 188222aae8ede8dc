"""The state of an endpoint CloudFormation owns (serverless, always_on), read from SageMaker itself.

Those models have no state item (nothing wakes or sleeps them), so /status describes the endpoint.
"""

from __future__ import annotations

from typing import Any

from seqserve_common.endpoints import describe_endpoint
from seqserve_common.lifecycle import State

# SageMaker's EndpointStatus -> the API's state. An endpoint that is updating (or rolling an update back)
# still serves its current configuration.
STATES = {
    "InService": State.AWAKE,
    "Updating": State.AWAKE,
    "SystemUpdating": State.AWAKE,
    "RollingBack": State.AWAKE,
    "UpdateRollbackFailed": State.AWAKE,
    "Creating": State.WAKING,
    "Deleting": State.SLEEPING,
    "Failed": State.FAILED,
    "OutOfService": State.FAILED,
}


def managed_endpoint_state(sagemaker: Any, endpoint_name: str) -> dict[str, Any]:
    """The /status fields of a CloudFormation-owned endpoint; errors other than "not found" propagate."""
    endpoint = describe_endpoint(sagemaker, endpoint_name)
    state = State.ASLEEP if endpoint.status is None else STATES.get(endpoint.status, State.WAKING)
    return {
        "state": state.value,
        "endpoint_status": endpoint.status,
        "last_invoked_at": None,
        "state_changed_at": None,
        "failure_reason": endpoint.failure_reason,
    }
