"""Faults inside botocore's retry loop, on clients built as the Lambdas build theirs.

A fault is armed for an operation (``sagemaker.DescribeEndpoint``) or for any operation (``*``) of one
function (``seqserve/checker``) or of every function (``*``), and fires on the next matching HTTP
attempt from a ``before-send`` handler, where a real network fault happens:

- ``throttle`` and ``error`` answer with the service's own error body (HTTP 400 throttling, HTTP 500),
  so botocore parses it, and its standard retry mode (the clients' configuration in
  seqserve_common.clients) retries it as it would a real one;
- ``timeout`` raises ReadTimeoutError before the request is sent;
- ``lost`` sends the request (it takes effect) and then raises ReadTimeoutError: the answer is lost;
- ``kill`` stops the Lambda before this call: a BaseException no handler of the Lambda catches,
  as when its process ends between two of its AWS calls.

botocore's retry sleeps are recorded, not slept: the clock of the model is the World's.
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

FAULT_KINDS = ("throttle", "error", "timeout", "lost")
THROTTLE_CODES = {
    "dynamodb": "ProvisionedThroughputExceededException",
    "sagemaker": "ThrottlingException",
    "sns": "Throttling",
    "sqs": "RequestThrottled",
    "s3": "SlowDown",
}
ERROR_CODES = {"dynamodb": "InternalServerError", "s3": "InternalError"}
# Calls that change something: a kill right after one of them leaves its effect without what follows.
WRITES = ("Create", "Delete", "Update", "Put", "Transact", "Publish", "Send", "Change", "Add")


class LambdaKilled(BaseException):
    """The Lambda's process ended (timeout, out of memory, a crash of the runtime) mid-invocation."""


class RawBody(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def error_response(protocol: str, url: str, status: int, code: str) -> AWSResponse:
    """The error answer a service of ``protocol`` gives, as bytes botocore parses."""
    if protocol in ("json", "smithy-rpc-v2-cbor"):
        body = json.dumps({"__type": code, "message": "injected fault"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    elif protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected fault"
            "</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    else:  # rest-xml (S3)
        body = f"<Error><Code>{code}</Code><Message>injected fault</Message></Error>".encode()
        headers = {"Content-Type": "application/xml"}
    headers["Content-Length"] = str(len(body))
    return AWSResponse(url, status, headers, RawBody(body))


@dataclass
class Fault:
    kind: str
    function: str = "*"
    operation: str = "*"
    # Calls of that function (matching the operation) let through before it fires.
    skip: int = 0


@dataclass
class Faults:
    """Armed faults and what fired; shared by every hooked client (threads included)."""

    armed: list[Fault] = field(default_factory=list)
    fired: list[tuple[str, str, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    retry_sleeps: list[float] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def arm(self, fault: Fault) -> None:
        with self.lock:
            self.armed.append(fault)

    def clear(self) -> None:
        with self.lock:
            self.armed.clear()

    def take(self, function: str, operation: str) -> str | None:
        with self.lock:
            for fault in self.armed:
                if fault.function not in ("*", function) and not function.startswith(fault.function + "/"):
                    continue
                if fault.operation not in ("*", operation):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                self.armed.remove(fault)
                self.fired.append((function, operation, fault.kind))
                self.counts[f"{operation}:{fault.kind}"] += 1
                return fault.kind
        return None

    def fired_since(self, mark: int, function: str | None = None) -> list[tuple[str, str, str]]:
        with self.lock:
            return [f for f in self.fired[mark:] if function is None or f[0] == function]


Observer = Callable[..., Any]


def hook(
    client: Any,
    *,
    function: str,
    faults: Faults,
    before: Observer | None = None,
    after: Observer | None = None,
) -> Any:
    """Arm ``client`` (a Lambda's own, production-configured) with the faults; ``before(function,
    operation, params)`` runs before every attempt (may raise), ``after(function, operation, params,
    status, parsed)`` after every answer that reached the caller's side of the wire."""
    model = client.meta.service_model
    service = model.service_id.hyphenize()
    protocol = model.protocol
    endpoint_url = client.meta.endpoint_url
    state = threading.local()

    def params_of(request: Any) -> dict[str, Any]:
        body = request.body
        if isinstance(body, bytes | bytearray):
            body = bytes(body).decode("utf-8", "replace")
        if not isinstance(body, str) or not body:
            return {}
        if protocol == "query":
            return {key: values[0] for key, values in parse_qs(body).items()}
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def before_send(request: Any, event_name: str, **_: Any) -> Any:
        operation = f"{service}.{event_name.rsplit('.', 1)[-1]}"
        params = params_of(request)
        state.params = params
        if before is not None:
            before(function, operation, params)
        kind = faults.take(function, operation)
        if kind is None:
            return None
        if kind == "kill":
            raise LambdaKilled(f"{function} killed before {operation}")
        if kind == "timeout":
            raise ReadTimeoutError(endpoint_url=endpoint_url)
        if kind == "lost":
            headers = {
                k: (v.decode() if isinstance(v, bytes) else v)
                for k, v in request.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "expect")
            }
            body = request.body
            if hasattr(body, "read"):
                body = body.read()
            answer = httpx.request(request.method, request.url, headers=headers, content=body, timeout=30)
            if after is not None:
                after(function, operation, params, answer.status_code, None)
            raise ReadTimeoutError(endpoint_url=endpoint_url)
        if kind == "throttle":
            return error_response(protocol, request.url, 400, THROTTLE_CODES.get(service, "Throttling"))
        return error_response(protocol, request.url, 500, ERROR_CODES.get(service, "InternalFailure"))

    def after_call(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        if after is not None:
            operation = f"{service}.{model.name}"
            after(function, operation, getattr(state, "params", {}), http_response.status_code, parsed)

    client.meta.events.register_first(f"before-send.{service}", before_send)
    client.meta.events.register(f"after-call.{service}", after_call)
    return client
