"""boto3 clients with timeouts and retries sized to the invoker's Lambda timeout.

API Gateway waits 29 s for the invoker; the invoker's Lambda timeout is 25 s
(stacks/lambda_environment.py), leaving room for the response. Worst cases, with these settings:
- a prediction: record the start (state client: 1 s connect + 1 s read, one attempt = 2 s), the
  endpoint call (sagemaker-runtime: 2 s connect + 15 s read, no retry), record the answer (2 s):
  about 21 s. A retry after a read timeout would double the wait and miss the limit anyway; the API
  answers 504 and the client retries. Throttling is answered as 429 with ``Retry-After``.
- a wake after SageMaker said the endpoint is down: at most five control-plane calls (read the state,
  describe, the conditional transition, CreateEndpoint, describe after "already exists"), each
  1 s connect + 2 s read with one attempt = 3 s: 15 s on top of the endpoint call's answer. If the
  Lambda is stopped anyway, the state is already ``waking`` and the reconciler finishes the wake.
- the bridge (issue 21) after SageMaker said the endpoint is down: the wake as above when this
  request makes it (usually one state read: another request already woke it), then one call of the
  model's serving function (lambda: 1 s connect + 10 s read, one attempt). A function that has not
  answered in 10 s (a cold start of a large model, throttling) has not answered "in time": the client
  gets the 503 + Retry-After it would get without the bridge, inside API Gateway's 29 s.
A failed state write never fails a prediction (invariant 4): the next request retries it.

The reconciler has no client waiting: its clients retry (standard mode, 3 attempts).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

RUNTIME_CONFIG = Config(
    connect_timeout=2, read_timeout=15, retries={"mode": "standard", "total_max_attempts": 1}
)
# The invoker's control-plane calls (state table reads and transitions, CreateEndpoint, DescribeEndpoint).
INVOKER_CONTROL_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 1}
)
# Recording an invocation: best effort, coalesced, retried by the next request.
RECORD_CONFIG = Config(
    connect_timeout=1, read_timeout=1, retries={"mode": "standard", "total_max_attempts": 1}
)
# The invoker's call of a model's serving function (Invoke, RequestResponse): no retry, the 503 is the retry.
SERVING_FUNCTION_CONFIG = Config(
    connect_timeout=1, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 1}
)
# The reconciler's calls: no client is waiting, so throttling and faults get retried.
CONTROL_PLANE_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3}
)


def runtime_client() -> Any:
    return boto3.client("sagemaker-runtime", config=RUNTIME_CONFIG)


def invoker_client(service: str) -> Any:
    """The invoker's dynamodb or sagemaker client: one attempt, short timeouts."""
    return boto3.client(service, config=INVOKER_CONTROL_CONFIG)


def serving_function_client() -> Any:
    """The invoker's lambda client for the models' serving functions."""
    return boto3.client("lambda", config=SERVING_FUNCTION_CONFIG)


def record_client() -> Any:
    return boto3.client("dynamodb", config=RECORD_CONFIG)


def control_client(service: str) -> Any:
    """The reconciler's client for dynamodb, sagemaker or sns."""
    return boto3.client(service, config=CONTROL_PLANE_CONFIG)
