"""Injected AWS faults for the Lambdas: ``--fault OPERATION:KIND:RATE``, installed as botocore event hooks.

Each Lambda worker process installs the plan before it imports the handler module, on the botocore
session behind ``boto3.client(...)``, so not one line of Lambda code changes. The hook sits on
``before-send``: inside botocore's retry loop, so a fault meets the client's own retry mode, timeouts
and backoff exactly as a fault of the real service would. ``RATE`` is the fraction of that operation's
HTTP requests (attempts, not calls) that fail; each worker process draws from its own generator,
seeded with ``--fault-seed`` when given.

Kinds:
- ``throttle``: the service answers its throttling error (``ThrottlingException``, SNS ``Throttling``,
  S3 ``SlowDown``); the request never takes effect.
- ``error``: the service answers a 5xx (``InternalFailure``; DynamoDB ``InternalServerError``).
- ``timeout``: the request never arrives and no answer comes: the client waits its read timeout.
- ``lost``: the request takes effect (it reaches the embedded AWS) but its answer is lost: the client
  waits its read timeout, as it would on AWS, and may retry a call that already happened.
A timeout or a lost answer sends the request to a local "tarpit" socket that accepts and never
answers, so the client's own configured read timeout applies.
"""

from __future__ import annotations

import functools
import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

KINDS = ("throttle", "error", "timeout", "lost")
# The services whose operations may be named: those the Lambdas call, and a few they may come to call.
SERVICES = ("sagemaker", "sagemaker-runtime", "dynamodb", "events", "sns", "s3", "sqs", "cloudwatch")
SUPPORTED_PROTOCOLS = ("json", "rest-json", "query", "rest-xml")
MESSAGE = "injected by the local stack's --fault"
# An accepted tarpit connection is closed after this long, far beyond any client's read timeout.
TARPIT_HOLD_SECONDS = 600.0


class FaultError(ValueError):
    """A --fault value that cannot be used; the message names the value and the reason."""


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One parsed ``--fault``: ``operation`` fails with ``kind`` on a fraction ``rate`` of its requests."""

    operation: str
    kind: str
    rate: float
    # Each (service name, hyphenated service id, protocol) that has this operation.
    targets: tuple[tuple[str, str, str], ...]

    @property
    def text(self) -> str:
        return f"{self.operation}:{self.kind}:{self.rate:g}"


@functools.cache
def _operations() -> dict[str, list[tuple[str, str, str]]]:
    """Operation name -> (service, hyphenated service id, protocol) of each service that has it."""
    import botocore.session

    session = botocore.session.get_session()
    found: dict[str, list[tuple[str, str, str]]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            found.setdefault(operation, []).append(
                (service, model.service_id.hyphenize(), model.resolved_protocol)
            )
    return found


def _targets(operation: str) -> list[tuple[str, str, str]]:
    # An operation several services have (EventBridge has a CreateEndpoint too) is faulted in each.
    return list(_operations().get(operation, []))


def parse_fault(text: str) -> Fault:
    """``OPERATION:KIND:RATE`` -> Fault; FaultError naming the value and what is wrong with it."""
    parts = text.split(":")
    if len(parts) != 3:
        raise FaultError(f"--fault {text!r} is not OPERATION:KIND:RATE (e.g. CreateEndpoint:lost:0.5)")
    operation, kind, rate_text = (part.strip() for part in parts)
    if kind not in KINDS:
        raise FaultError(f"--fault {text!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
    try:
        rate = float(rate_text)
    except ValueError:
        raise FaultError(f"--fault {text!r}: rate {rate_text!r} is not a number") from None
    if not 0 < rate <= 1:
        raise FaultError(f"--fault {text!r}: rate {rate_text} is not in (0, 1]")
    targets = _targets(operation) if operation else []
    if not targets:
        raise FaultError(
            f"--fault {text!r}: {operation!r} is not an operation of {', '.join(SERVICES)} "
            "(operation names are as in the AWS API, e.g. CreateEndpoint, UpdateItem, InvokeEndpoint)"
        )
    unsupported = [service for service, _, protocol in targets if protocol not in SUPPORTED_PROTOCOLS]
    if unsupported and kind in ("throttle", "error"):
        raise FaultError(
            f"--fault {text!r}: {kind} faults are not supported for {', '.join(unsupported)} "
            f"(its protocol is not one of {', '.join(SUPPORTED_PROTOCOLS)})"
        )
    return Fault(operation=operation, kind=kind, rate=rate, targets=tuple(targets))


def check_plan(faults: Sequence[Fault]) -> None:
    """The rates of one operation's faults are fractions of the same requests: they add up to <= 1."""
    totals: dict[str, float] = {}
    for fault in faults:
        totals[fault.operation] = totals.get(fault.operation, 0.0) + fault.rate
    for operation, total in totals.items():
        if total > 1 + 1e-9:
            named = " ".join(f"--fault {f.text}" for f in faults if f.operation == operation)
            raise FaultError(f"{named}: the rates for {operation} add up to {total:g}, more than 1")


def plan_argument(faults: Sequence[Fault], *, seed: int | None) -> str:
    """The plan as one command-line argument for a Lambda worker (not its environment: the handler
    must see only the function's variables)."""
    check_plan(faults)
    return json.dumps({"seed": seed, "faults": [asdict(fault) for fault in faults]})


def faults_from_argument(argument: str) -> tuple[list[Fault], int | None]:
    plan = json.loads(argument)
    faults = [
        Fault(
            operation=f["operation"],
            kind=f["kind"],
            rate=float(f["rate"]),
            targets=tuple(tuple(target) for target in f["targets"]),  # type: ignore[misc]
        )
        for f in plan["faults"]
    ]
    return faults, plan["seed"]


class _Body:
    """The ``raw`` of a botocore AWSResponse built here: bytes that stream once."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self._content

    def read(self, *_: Any, **__: Any) -> bytes:
        content, self._content = self._content, b""
        return content


# (HTTP status, error code) per kind; services whose codes differ are named.
_CODES = {
    "throttle": {
        "default": (400, "ThrottlingException"),
        "sns": (400, "Throttling"),
        "s3": (503, "SlowDown"),
    },
    "error": {
        "default": (500, "InternalFailure"),
        "dynamodb": (500, "InternalServerError"),
        "sns": (500, "InternalError"),
        "s3": (500, "InternalError"),
    },
}


def error_response(*, url: str, service: str, protocol: str, kind: str):
    """The service's own error answer for a throttle or 5xx, in its protocol's shape."""
    from botocore.awsrequest import AWSResponse

    codes = _CODES[kind]
    status, code = codes.get(service, codes["default"])
    request_id = str(uuid.uuid4())
    message = f"{'Rate exceeded' if kind == 'throttle' else 'We encountered an internal error'} ({MESSAGE})"
    headers = {"x-amzn-RequestId": request_id}
    if protocol == "json":
        headers |= {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
        body = json.dumps({"__type": code, "message": message}).encode()
    elif protocol == "rest-json":
        headers |= {"Content-Type": "application/json", "x-amzn-ErrorType": code}
        body = json.dumps({"message": message}).encode()
    elif protocol == "query":
        sender = "Sender" if status < 500 else "Receiver"
        headers["Content-Type"] = "text/xml"
        body = (
            f"<ErrorResponse><Error><Type>{sender}</Type><Code>{code}</Code><Message>{message}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    else:
        headers["Content-Type"] = "application/xml"
        body = (
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
    return AWSResponse(url, status, headers, _Body(body))


class Tarpit:
    """A socket on 127.0.0.1 that accepts connections and never answers: a client sent there waits
    its own read timeout."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self._socket.settimeout(1.0)
        self.port = int(self._socket.getsockname()[1])
        self._held: list[tuple[float, socket.socket]] = []
        threading.Thread(target=self._hold, name="fault-tarpit", daemon=True).start()

    def _hold(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
                self._held.append((time.monotonic(), connection))
            except TimeoutError:
                pass
            except OSError:
                return
            cutoff = time.monotonic() - TARPIT_HOLD_SECONDS
            while self._held and self._held[0][0] < cutoff:
                self._held.pop(0)[1].close()

    def redirect(self, url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit(("http", f"127.0.0.1:{self.port}", parts.path, parts.query, parts.fragment))


class FaultInjector:
    """Decides, per HTTP request of a faulted operation, whether and how it fails."""

    def __init__(self, faults: Sequence[Fault], *, seed: int | None) -> None:
        check_plan(faults)
        self.faults = list(faults)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._tarpit: Tarpit | None = None
        self.injected: dict[str, int] = {}

    def _draw(self, operation: str) -> Fault | None:
        with self._lock:
            roll = self._random.random()
        for fault in self.faults:
            if fault.operation != operation:
                continue
            if roll < fault.rate:
                return fault
            roll -= fault.rate
        return None

    def _tarpit_url(self, url: str) -> str:
        with self._lock:
            if self._tarpit is None:
                self._tarpit = Tarpit()
            return self._tarpit.redirect(url)

    def handler(self, *, service: str, protocol: str, operation: str):
        def before_send(request: Any, **_: Any) -> Any:
            fault = self._draw(operation)
            if fault is None:
                return None
            with self._lock:
                self.injected[fault.text] = self.injected.get(fault.text, 0) + 1
            if fault.kind in ("throttle", "error"):
                return error_response(url=request.url, service=service, protocol=protocol, kind=fault.kind)
            if fault.kind == "lost":
                _deliver(request)
            request.url = self._tarpit_url(request.url)
            return None

        return before_send

    def install(self, events: Any) -> None:
        """Register the hooks on a botocore session, or on one client's ``client.meta.events``."""
        registered: set[tuple[str, str]] = set()
        for fault in self.faults:
            for service, service_id, protocol in fault.targets:
                if (service_id, fault.operation) in registered:
                    continue
                registered.add((service_id, fault.operation))
                events.register(
                    f"before-send.{service_id}.{fault.operation}",
                    self.handler(service=service, protocol=protocol, operation=fault.operation),
                    unique_id=f"seqserve-local-fault-{service_id}-{fault.operation}",
                )


def _deliver(request: Any) -> None:
    """Send the signed request as the client would, and drop the answer: the call takes effect."""
    from botocore.httpsession import URLLib3Session

    session = URLLib3Session(timeout=60)
    try:
        session.send(request).content  # noqa: B018 - read to the end, then dropped
    finally:
        session.close()


def install_default_session(faults: Sequence[Fault], *, seed: int | None) -> FaultInjector:
    """Install on the session behind ``boto3.client(...)``: call before the handler module is imported."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    injector = FaultInjector(faults, seed=seed)
    injector.install(core)
    boto3.setup_default_session(botocore_session=core)
    return injector
