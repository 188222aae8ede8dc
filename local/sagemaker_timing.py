"""SageMaker's endpoint status progression on top of moto, which makes an endpoint InService at once.

An endpoint is ``Creating`` for ``create_seconds`` after CreateEndpoint, then ``InService``; after
DeleteEndpoint it is ``Deleting`` for ``delete_seconds``, then gone. Until it is gone its name is
taken: CreateEndpoint is refused ("Cannot create already existing endpoint", as SageMaker says), and
DescribeEndpoint and ListEndpoints show it ``Deleting``. A missing endpoint is SageMaker's
ValidationException ``Could not find endpoint "ARN".``

Time is read from an injectable clock, and the progression happens lazily, before each SageMaker call
the server handles: a test that moves its clock sees the next call observe the new status, with no
thread and no sleep.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.core.utils import utcnow
from moto.sagemaker.models import sagemaker_backends

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Clock = Callable[[], float]

CREATING, IN_SERVICE, DELETING = "Creating", "InService", "Deleting"


@dataclass(frozen=True, kw_only=True)
class EndpointTimes:
    """How long an endpoint takes to come up and to go. SageMaker's real times are minutes; locally a
    few seconds keep the demo quick while every client still sees each transitional status."""

    create_seconds: float = 3.0
    delete_seconds: float = 2.0

    def __post_init__(self) -> None:
        for name in ("create_seconds", "delete_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or value != value:
                raise ValueError(f"{name} must be a number of seconds >= 0, not {value!r}")


class ManualClock:
    """A clock that moves only when told: ``advance(seconds)``. For tests of the status progression."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def _json_error(start_response: Callable[..., Any], message: str) -> Iterable[bytes]:
    start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")])
    return [json.dumps({"__type": "ValidationException", "message": message}).encode()]


def _endpoint_name(environ: dict[str, Any]) -> Any:
    """The request's EndpointName; the body is put back for moto to read."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        return json.loads(body or b"{}").get("EndpointName")
    except (ValueError, AttributeError):
        return None


class EndpointLifecycle:
    """Wraps moto's SageMaker actions; one SageMaker call at a time, so a status never changes mid-call."""

    def __init__(self, *, account_id: str, region: str, times: EndpointTimes, clock: Clock | None = None):
        self._account_id = account_id
        self._region = region
        self.times = times
        self._clock = clock or time.monotonic
        # Endpoint name -> (status it is in, clock time it leaves that status).
        self._pending: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def _endpoints(self) -> dict[str, Any]:
        return sagemaker_backends[self._account_id][self._region].endpoints

    def _arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{self._region}:{self._account_id}:endpoint/{name.lower()}"

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()

    def advance(self) -> None:
        """Move every endpoint whose time in its status is up: Creating -> InService, Deleting -> gone."""
        now = self._clock()
        for name, (status, until) in list(self._pending.items()):
            if now < until:
                continue
            del self._pending[name]
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                continue
            if status == CREATING:
                endpoint.endpoint_status = IN_SERVICE
                endpoint.last_modified_time = utcnow()
            elif status == DELETING:
                del self._endpoints[name]

    def handle(self, action: str, environ: dict[str, Any], start_response: Callable[..., Any], app: WSGIApp):
        """Answer one ``SageMaker.<action>`` request, moto answering what is not about endpoint status."""
        with self._lock:
            self.advance()
            if action == "CreateEndpoint":
                return self._create(environ, start_response, app)
            if action == "DeleteEndpoint":
                return self._delete(environ, start_response, app)
            if action == "DescribeEndpoint":
                name = _endpoint_name(environ)
                if name not in self._endpoints:
                    return _json_error(start_response, f'Could not find endpoint "{self._arn(str(name))}".')
            # moto's Flask app handles the whole request inside app(...), so the lock covers it.
            return app(environ, start_response)

    def _create(self, environ: dict[str, Any], start_response: Callable[..., Any], app: WSGIApp):
        name = _endpoint_name(environ)
        if name in self._endpoints:
            # moto would replace it; SageMaker refuses, whatever the status (Deleting included).
            return _json_error(
                start_response, f'Cannot create already existing endpoint "{self._arn(str(name))}".'
            )
        answer = app(environ, start_response)
        endpoint = self._endpoints.get(name)
        if endpoint is not None and self.times.create_seconds > 0:
            endpoint.endpoint_status = CREATING
            self._pending[name] = (CREATING, self._clock() + self.times.create_seconds)
        return answer

    def _delete(self, environ: dict[str, Any], start_response: Callable[..., Any], app: WSGIApp):
        name = _endpoint_name(environ)
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            return _json_error(start_response, f'Could not find endpoint "{self._arn(str(name))}".')
        if self.times.delete_seconds <= 0:
            self._pending.pop(name, None)
            return app(environ, start_response)
        if endpoint.endpoint_status != DELETING:
            # A second DeleteEndpoint while Deleting is accepted and changes nothing.
            endpoint.endpoint_status = DELETING
            endpoint.last_modified_time = utcnow()
            self._pending[name] = (DELETING, self._clock() + self.times.delete_seconds)
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1")])
        return [b"{}"]
