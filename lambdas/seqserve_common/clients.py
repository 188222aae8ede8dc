"""boto3 clients with timeouts and retries sized to API Gateway's 29-second integration limit.

The worst case of one predict request is one endpoint call and one state write:
- sagemaker-runtime: 2 s to connect, 18 s to read, no retry. A retry after a read timeout would
  double the wait and miss the 29 s limit anyway; the API answers 504 and the client retries.
  Throttling is answered as 429 with ``Retry-After`` instead of being retried here.
- DynamoDB, the SageMaker control plane, EventBridge and SNS: 1 s to connect, 2 s to read, at most
  2 attempts (standard mode), so one such call costs at most about 7 s including backoff.
So a prediction answers within about 27 s even when both hang, inside the invoker's 29 s timeout
(stacks/lambda_environment.py). A wake makes more control-plane calls and can take longer in the worst
case; the caller then gets API Gateway's 504 and retries, and the conditional state write keeps a retry
from creating a second endpoint.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

RUNTIME_CONFIG = Config(
    connect_timeout=2, read_timeout=18, retries={"mode": "standard", "total_max_attempts": 1}
)
CONTROL_PLANE_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2}
)


def runtime_client() -> Any:
    return boto3.client("sagemaker-runtime", config=RUNTIME_CONFIG)


def control_client(service: str) -> Any:
    """A client for dynamodb, sagemaker, events or sns."""
    return boto3.client(service, config=CONTROL_PLANE_CONFIG)
