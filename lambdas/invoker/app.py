"""The REST API (DESIGN.md): predict, status, wake and the list of models, on Powertools' resolver."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.lifecycle import State
from seqserve_common.metrics import emit
from seqserve_common.settings import ModelSpec, Settings
from seqserve_common.state import StateStore

from invoker.api_error import (
    RETRY_UNAVAILABLE_SECONDS,
    RETRY_WAKING_SECONDS,
    ApiError,
    error_response,
    json_response,
)
from invoker.endpoint_call import EndpointDown, ModelAnswered, invoke
from invoker.job_routes import QueuedPredictions, parse_prefer
from invoker.payload import check_predict_body
from invoker.recorder import InvocationRecorder
from invoker.waker import Waker

# (method, path pattern) of every route, to tell a wrong method (405) from an unknown path (404).
ROUTES = (
    ("GET", re.compile(r"^/models$")),
    ("GET", re.compile(r"^/models/[^/]+/status$")),
    ("POST", re.compile(r"^/models/[^/]+/wake$")),
    ("POST", re.compile(r"^/models/[^/]+/predict$")),
    ("GET", re.compile(r"^/jobs/[^/]+$")),
)


def request_body(body: str | None, *, base64_encoded: bool | None) -> bytes:
    """The body's bytes as the client sent them (API Gateway base64-encodes binary bodies)."""
    if body is None:
        return b""
    if not base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise ApiError(
            400, "invalid_input", "request body is marked base64 but is not valid base64"
        ) from None


def build_app(
    *,
    settings: Settings,
    runtime: Any,
    sagemaker: Any,
    dynamodb: Any,
    events: Any,
    clock: Callable[[], float],
    logger: Logger,
    s3: Any = None,
    sqs: Any = None,
) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    store = StateStore(dynamodb=dynamodb, table=settings.state_table)
    recorder = InvocationRecorder(store=store, clock=clock, logger=logger)
    waker = Waker(
        store=store,
        sagemaker=sagemaker,
        events=events,
        idle_rule_name=settings.idle_rule_name,
        clock=clock,
        logger=logger,
    )
    queued = QueuedPredictions(
        settings=settings, runtime=runtime, sagemaker=sagemaker, dynamodb=dynamodb, s3=s3, sqs=sqs,
        waker=waker, clock=clock, logger=logger,
    )  # fmt: skip
    app.include_router(queued.router)

    def model_spec(name: str) -> ModelSpec:
        spec = settings.models.get(name)
        if spec is None:
            raise ApiError(
                404, "unknown_model", f"model {name!r} is not deployed; GET /models lists the models"
            )
        logger.append_keys(model=name)
        return spec

    @app.get("/models")
    def list_models() -> Response:
        models = [{"model": s.name, "preset": s.preset, "mode": s.mode} for s in settings.models.values()]
        return json_response(200, {"models": models})

    @app.get("/models/<name>/status")
    def status(name: str) -> Response:
        spec = model_spec(name)
        item = store.get(spec.name)
        body = {
            "model": spec.name,
            "preset": spec.preset,
            "mode": spec.mode,
            "endpoint_name": spec.endpoint_name,
            "idle_minutes": spec.idle_minutes,
            **item.to_json(),
        }
        return json_response(200, body)

    @app.post("/models/<name>/wake")
    def wake(name: str) -> Response:
        spec = model_spec(name)
        if not spec.on_demand:
            raise ApiError(
                409,
                "not_on_demand",
                f"model {name} is served in mode {spec.mode}; only on_demand models sleep",
            )
        state = waker.wake(spec, endpoint_down=False, retry_failed=True)
        if state is State.AWAKE:
            return json_response(200, {"model": name, "state": state.value})
        return json_response(
            202, {"model": name, "state": state.value}, headers={"Retry-After": str(RETRY_WAKING_SECONDS)}
        )

    @app.post("/models/<name>/predict")
    def predict(name: str) -> Response:
        spec = model_spec(name)
        raw = request_body(app.current_event.body, base64_encoded=app.current_event.is_base64_encoded)
        check_predict_body(raw, max_inputs=settings.max_inputs, max_body_bytes=settings.max_body_bytes)
        prefer = parse_prefer(app.current_event.headers.get("prefer"))
        if prefer.respond_async:
            return queued.submit(spec, raw)
        try:
            answer = invoke(runtime, model=name, endpoint_name=spec.endpoint_name, body=raw)
        except EndpointDown:
            emit("EndpointDown", model=name)
            if not spec.on_demand:
                raise ApiError(
                    503,
                    "unavailable",
                    f"model {name}'s endpoint is not in service; retry later",
                    retry_after=RETRY_UNAVAILABLE_SECONDS,
                ) from None
            waker.wake(spec, endpoint_down=True, retry_failed=False)
            if prefer.wait:
                remaining_ms = app.lambda_context.get_remaining_time_in_millis()
                held = queued.hold(spec, raw, seconds=prefer.wait, remaining_ms=remaining_ms)
                if held is not None:
                    recorder.record(spec)
                    return Response(status_code=200, content_type="application/json", body=held)
            raise ApiError(
                503, "waking", f"model {name} is waking up; retry later", retry_after=RETRY_WAKING_SECONDS
            ) from None
        except ModelAnswered:
            if spec.on_demand:
                recorder.record(spec)
            raise
        if spec.on_demand:
            recorder.record(spec)
        emit("Predictions", model=name)
        return Response(status_code=200, content_type="application/json", body=answer)

    @app.not_found
    def not_found(_: Exception) -> Response:
        path = app.current_event.path
        allowed = sorted({method for method, pattern in ROUTES if pattern.match(path)})
        if allowed:
            response = error_response(
                405,
                "method_not_allowed",
                f"{app.current_event.http_method} is not allowed on {path}; use {', '.join(allowed)}",
            )
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return error_response(404, "not_found", f"no route {path}; see GET /models")

    @app.exception_handler(ApiError)
    def api_error(error: ApiError) -> Response:
        if error.status >= 500:
            logger.warning("answered with an error", extra={"status": error.status, "code": error.code})
        return error.response()

    @app.exception_handler([ClientError, BotoCoreError])
    def aws_error(error: Exception) -> Response:
        logger.exception("an AWS call failed")
        return error_response(
            503,
            "unavailable",
            "a backing AWS service did not answer; retry later",
            retry_after=RETRY_UNAVAILABLE_SECONDS,
        )

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unexpected error")
        return error_response(500, "internal_error", "the API failed unexpectedly; the error is logged")

    return app
