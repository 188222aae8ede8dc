"""moto in server mode on 127.0.0.1, with a record of control-plane calls and atomic DynamoDB writes.

- moto's CreateEndpoint silently replaces an existing endpoint, so the endpoint itself cannot tell how
  often it was created. The record plays CloudTrail's part: it counts every JSON-protocol action
  (``X-Amz-Target``, e.g. ``SageMaker.CreateEndpoint``) that reached the server.
- moto's endpoints are InService at once and gone at once; SageMaker's take minutes. The server plays
  SageMaker's Creating and Deleting statuses for a configurable time (``local.sagemaker_timing``), and
  refuses CreateEndpoint for a name that exists, as SageMaker does ("Cannot create already existing
  endpoint"), also while it is Deleting.
- moto evaluates a DynamoDB condition and then writes, with no lock between the two, so two
  concurrent conditional updates can both succeed. DynamoDB makes each conditional write atomic; the
  server gives the same guarantee by handling one DynamoDB call at a time.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from .sagemaker_timing import Clock, EndpointLifecycle, EndpointTimes

REGION = "us-east-1"
# moto's default account; the ARNs moto builds carry it.
ACCOUNT_ID = "123456789012"
# Fake credentials: moto accepts any, and they keep boto3 away from a real profile.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class CallRecord:
    """Thread-safe counts of the JSON-protocol actions the server received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, target: str) -> None:
        with self._lock:
            self._counts[target] += 1

    def count(self, target: str) -> int:
        with self._lock:
            return self._counts[target]


class MotoServer:
    """moto's server app in a thread of this process, bound to a free port on 127.0.0.1."""

    def __init__(self, *, endpoint_times: EndpointTimes | None = None, clock: Clock | None = None) -> None:
        self.calls = CallRecord()
        self.endpoints = EndpointLifecycle(
            account_id=ACCOUNT_ID, region=REGION, times=endpoint_times or EndpointTimes(), clock=clock
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _wrap(self, app: WSGIApp) -> WSGIApp:
        dynamodb = threading.Lock()

        def local_aws(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target:
                self.calls.record(target)
            # moto's Flask app handles the whole request inside app(...), so a lock around it suffices.
            if target.startswith("DynamoDB_"):
                with dynamodb:
                    return app(environ, start_response)
            if target.startswith("SageMaker."):
                return self.endpoints.handle(target.removeprefix("SageMaker."), environ, start_response, app)
            return app(environ, start_response)

        return local_aws

    def start(self) -> None:
        # werkzeug logs every request; the stack's own output stays readable.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = self._wrap(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        # moto keeps its backends per process: a stack started after another one here (as the tests do)
        # must start from an empty AWS, as a fresh account would, not find the first one's table.
        httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        self.endpoints.reset()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the moto server is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None


def aws_environment(*, moto_url: str, runtime_url: str, lambda_url: str | None = None) -> dict[str, str]:
    """The variables that point any boto3 client at the local stack, for the Lambdas and for us.
    ``lambda_url``: the local Lambda Invoke API (local.lambda_api), where the stack runs one."""
    return {
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime_url,
        **({"AWS_ENDPOINT_URL_LAMBDA": lambda_url} if lambda_url else {}),
    }
