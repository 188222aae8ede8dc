"""A local sagemaker-runtime: ``POST /endpoints/{name}/invocations`` as SageMaker answers it.

An endpoint answers only while moto says it is ``InService``: a missing endpoint, and one that is
``Creating``, ``Deleting``, ``Failed`` or ``OutOfService``, gets SageMaker's 400 ``ValidationError``
"Endpoint NAME of account ACCOUNT not found." (the runtime routes only to endpoints whose instances
serve; that message is the one SageMaker gives for a missing endpoint, and the invoker reads it as
"the endpoint is down"). Its model server is found the way SageMaker finds its
container: endpoint -> endpoint configuration -> model -> the artifact (``ModelDataUrl``) that a running
model server serves. Errors carry SageMaker's shapes (``x-amzn-ErrorType`` and a JSON body), so boto3
raises the same ``ValidationError`` and ``ModelError`` it raises against AWS.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping

import httpx
from botocore.exceptions import ClientError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .aws import ACCOUNT_ID, REGION

# What SageMaker's front end puts in x-amzn-ErrorType for a request it rejects.
VALIDATION_ERROR = "ValidationError:http://internal.amazon.com/coral/com.amazon.coral.validate/"
MODEL_ERROR = "ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/"
# The only status in which the runtime routes requests to an endpoint.
SERVING_STATUS = "InService"
# SageMaker waits this long for a container before answering ModelError.
CONTAINER_TIMEOUT_SECONDS = 60.0


def _error(status: int, error_type: str, body: dict[str, object]) -> Response:
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-ErrorType": error_type},
    )


def _model_error(*, endpoint: str, status: int, message: str) -> Response:
    kind = "client" if 400 <= status < 500 else "server"
    log_stream = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
    return _error(
        424,
        MODEL_ERROR,
        {
            "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
            "LogStreamArn": log_stream,
            "OriginalMessage": message,
            "OriginalStatusCode": status,
            "message": (
                f'Received {kind} error ({status}) from primary with message "{message}". '
                f"See {log_stream} in account {ACCOUNT_ID} for more information."
            ),
        },
    )


class ContainerRouter:
    """Endpoint name -> URL of the model server behind it, resolved through moto on every request."""

    def __init__(self, *, sagemaker: object, servers: Callable[[], Mapping[str, str]]) -> None:
        # servers: ModelDataUrl -> base URL of the model server serving that artifact.
        self._sagemaker = sagemaker
        self._servers = servers
        self._config_models: dict[str, str] = {}
        self._lock = threading.Lock()

    def container_url(self, endpoint: str) -> str | None:
        """None when the endpoint does not exist or is not InService; LookupError when no model server
        serves its model.

        Configurations are cached: SageMaker never changes one once made.
        """
        try:
            described = self._sagemaker.describe_endpoint(EndpointName=endpoint)  # type: ignore[attr-defined]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ValidationException":
                return None
            raise
        if described["EndpointStatus"] != SERVING_STATUS:
            return None
        config_name = described["EndpointConfigName"]
        with self._lock:
            data_url = self._config_models.get(config_name)
        if data_url is None:
            config = self._sagemaker.describe_endpoint_config(EndpointConfigName=config_name)  # type: ignore[attr-defined]
            model = self._sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])  # type: ignore[attr-defined]
            data_url = model["PrimaryContainer"]["ModelDataUrl"]
            with self._lock:
                self._config_models[config_name] = data_url
        server = self._servers().get(data_url)
        if server is None:
            raise LookupError(f"no model server serves {data_url}")
        return server


def create_app(*, router: ContainerRouter) -> Starlette:
    client = httpx.Client(timeout=CONTAINER_TIMEOUT_SECONDS)

    def invoke(request: Request) -> Response:
        # Sync on purpose: Starlette runs it in its thread pool, so concurrent invocations overlap.
        endpoint = request.path_params["name"]
        try:
            url = router.container_url(endpoint)
        except LookupError as error:
            return _model_error(endpoint=endpoint, status=502, message=str(error))
        if url is None:
            return _error(
                400, VALIDATION_ERROR, {"message": f"Endpoint {endpoint} of account {ACCOUNT_ID} not found."}
            )
        body = request.state.body
        headers = {
            "Content-Type": request.headers.get("content-type", "application/json"),
            "Accept": request.headers.get("accept", "application/json"),
        }
        try:
            answer = client.post(f"{url}/invocations", content=body, headers=headers)
        except httpx.TimeoutException:
            return _model_error(
                endpoint=endpoint,
                status=0,
                message="Your invocation timed out while waiting for a response from container primary.",
            )
        except httpx.TransportError as error:
            return _model_error(
                endpoint=endpoint, status=502, message=f"container primary unreachable: {error}"
            )
        if answer.status_code != 200:
            return _model_error(endpoint=endpoint, status=answer.status_code, message=answer.text)
        return Response(
            answer.content,
            media_type=answer.headers.get("content-type", "application/json"),
            headers={"x-Amzn-Invoked-Production-Variant": "AllTraffic"},
        )

    async def invocations(request: Request) -> Response:
        request.state.body = await request.body()
        return await run_in_threadpool(invoke, request)

    return Starlette(routes=[Route("/endpoints/{name}/invocations", invocations, methods=["POST"])])
