"""The serving container's environment, built one way for the CDK app and the local stack.

The invoker passes a container 4xx through to the client, so the container must accept every request
the API accepts: its input-count limit is the API's (``model_code.validation.Limits`` reads it).
"""

from __future__ import annotations

from stacks.config import ApiConfig


def container_environment(api: ApiConfig) -> dict[str, str]:
    return {"SEQSERVE_MAX_INPUTS": str(api.max_inputs)}
