"""The REST API (DESIGN.md): predict, status, wake and the list of models, on Powertools' resolver."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.desired import up_reasons
from seqserve_common.history import History
from seqserve_common.lifecycle import State, estimated_ready_at, retry_after_seconds
from seqserve_common.reasons import status_fields
from seqserve_common.settings import ModelSpec, Settings
from seqserve_common.state import StateStore

from invoker.api_error import (
    RETRY_UNAVAILABLE_SECONDS,
    ApiError,
    error_response,
    json_response,
)
from invoker.api_models import Evaluation, ModelList, ModelStatus, Prediction, PredictRequest, WakeAnswer
from invoker.api_responses import RETRY_AFTER, responses
from invoker.artifacts import ArtifactReader
from invoker.base_path import base_path
from invoker.endpoint_state import managed_endpoint_state
from invoker.job_routes import QueuedPredictions, parse_prefer
from invoker.openapi_schema import openapi_document
from invoker.operator_routes import Operator, operator_router
from invoker.payload import check_predict_body, describe_validation_error
from invoker.recorder import InvocationRecorder
from invoker.responder import SERVED_BY, SERVED_BY_HEADER, Responder
from invoker.waker import Waker

PREDICT_PATH = re.compile(r"^/models/[^/]+/predict$")
# (method, path pattern) of every route, to tell a wrong method (405) from an unknown path (404).
ROUTES = (
    ("GET", re.compile(r"^/models$")),
    ("GET", re.compile(r"^/models/[^/]+/status$")),
    ("POST", re.compile(r"^/models/[^/]+/wake$")),
    ("POST", PREDICT_PATH),
    ("GET", re.compile(r"^/models/[^/]+/evaluation$")),
    ("GET", re.compile(r"^/models/[^/]+/confusion_matrix\.png$")),
    ("GET", re.compile(r"^/(console)?$")),
    ("GET", re.compile(r"^/openapi\.json$")),
    ("POST", re.compile(r"^/models/[^/]+/sleep$")),
    ("DELETE", re.compile(r"^/models/[^/]+/lease$")),
    ("GET", re.compile(r"^/models/[^/]+/usage$")),
    ("GET", re.compile(r"^/jobs/[^/]+$")),
)
CONSOLE = Path(__file__).resolve().parent / "console" / "index.html"
# Headers a browser may send and read across origins (stacks/api.py's preflight sends the same).
CORS_ALLOW_HEADERS = [
    "Content-Type",
    "X-Api-Key",
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "Prefer",
]
CORS_EXPOSE_HEADERS = ["Retry-After", "Allow", SERVED_BY]


class JsonBodyResolver(APIGatewayRestResolver):
    """Request bodies are JSON whatever Content-Type says, as before validation: ``curl -d`` sends
    application/x-www-form-urlencoded, and Powertools would otherwise parse such a body as a form."""

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if isinstance(event, dict) and event.get("body") is not None:
            headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
            multi = {
                k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"
            }
            event = {**event, "headers": {**headers, "Content-Type": "application/json"}}
            if multi:
                event["multiValueHeaders"] = {**multi, "Content-Type": ["application/json"]}
        return super().resolve(event, context)


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
    clock: Callable[[], float],
    logger: Logger,
    record_dynamodb: Any = None,
    s3: Any = None,
    sqs: Any = None,
    lambda_client: Any = None,
) -> APIGatewayRestResolver:
    """``record_dynamodb``: the client that records invocations (default ``dynamodb``);
    ``lambda_client``: calls the models' serving functions (None: no model is served by one)."""
    origins = list(settings.cors_origins)
    cors = CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:],
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
    )
    app = JsonBodyResolver(enable_validation=True, cors=cors)
    history = History(dynamodb=dynamodb, table=settings.history_table, logger=logger)
    store = StateStore(dynamodb=dynamodb, table=settings.state_table, on_transition=history.record_transition)
    artifacts = ArtifactReader(sagemaker=sagemaker, s3=s3, store=store)
    record_store = StateStore(dynamodb=record_dynamodb or dynamodb, table=settings.state_table)
    recorder = InvocationRecorder(store=record_store, clock=clock, logger=logger)
    waker = Waker(store=store, sagemaker=sagemaker, clock=clock, logger=logger, tags=settings.creation_tags())
    operator = Operator(
        settings=settings,
        store=store,
        history=history,
        dynamodb=dynamodb,
        sagemaker=sagemaker,
        clock=clock,
        logger=logger,
    )
    app.include_router(operator_router(operator))
    queued = QueuedPredictions(
        settings=settings,
        runtime=runtime,
        sagemaker=sagemaker,
        dynamodb=dynamodb,
        s3=s3,
        sqs=sqs,
        waker=waker,
        clock=clock,
        logger=logger,
    )
    app.include_router(queued.router)
    responder = Responder(
        runtime=runtime,
        lambda_client=lambda_client,
        waker=waker,
        queued=queued,
        recorder=recorder,
        history=history,
        clock=clock,
        logger=logger,
    )

    def model_spec(name: str) -> ModelSpec:
        spec = settings.models.get(name)
        if spec is None:
            raise ApiError(
                404, "unknown_model", f"model {name!r} is not deployed; GET /models lists the models"
            )
        logger.append_keys(model=name)
        return spec

    @app.get("/models", responses=responses(200, "the deployed models and their presets", model=ModelList))
    def list_models() -> Response[Any]:
        models = [{"model": s.name, "preset": s.preset, "mode": s.mode} for s in settings.models.values()]
        return json_response(200, {"models": models})

    @app.get(
        "/models/<name>/status",
        responses=responses(200, "the model's lifecycle state", model=ModelStatus, errors=(404, 503)),
    )
    def status(name: str) -> Response[Any]:
        spec = model_spec(name)
        if spec.on_demand:
            item = store.get(spec.name)
            state = {**item.to_json(), "estimated_ready_at": estimated_ready_at(item, now=clock())}
        elif spec.lambda_only:
            # No endpoint: the function answers whenever it is called (Lambda starts it on demand).
            state = {
                "state": State.AWAKE.value,
                "serving_function": spec.serving_function,
                "last_invoked_at": None,
                "state_changed_at": None,
                "failure_reason": None,
            }
        else:
            state = managed_endpoint_state(sagemaker, spec.endpoint_name)
        body = {
            "model": spec.name,
            "preset": spec.preset,
            "mode": spec.mode,
            "endpoint_name": spec.endpoint_name,
            "idle_minutes": spec.idle_minutes,
            **state,
        }
        if spec.on_demand:
            now = clock()
            body.update(status_fields(spec, item, now, up_reasons=up_reasons(spec=spec, item=item, now=now)))
        return json_response(200, body)

    @app.post(
        "/models/<name>/wake",
        responses={
            **responses(200, "the model is awake", model=WakeAnswer, errors=(404, 409, 503)),
            202: {
                "description": "the model is waking; poll GET /models/{name}/status",
                "content": {"application/json": {"model": WakeAnswer}},
                "headers": RETRY_AFTER,
            },
        },
    )
    def wake(name: str) -> Response[Any]:
        spec = model_spec(name)
        if not spec.on_demand:
            raise ApiError(
                409,
                "not_on_demand",
                f"model {name} is served in mode {spec.mode}; only on_demand models sleep",
            )
        lease_minutes = operator.lease_minutes(spec, app.current_event.body)
        # A wake is a use: an idle awake model answers 200 and must then stay up for idle_minutes.
        recorder.record(spec)
        item = waker.wake(spec, endpoint_down=False, retry_failed=True)
        answer: dict[str, object] = {"model": name, "state": item.state.value}
        if lease_minutes is not None:
            answer["lease_until"] = operator.set_lease(spec, lease_minutes)
        if item.state is State.AWAKE:
            return json_response(200, answer)
        retry_after = retry_after_seconds(item, now=clock())
        return json_response(202, answer, headers={"Retry-After": str(retry_after)})

    @app.post(
        "/models/<name>/predict",
        responses={
            **responses(
                200,
                "one entry per input: a label and score, or with top_k a list of them, best first",
                model=Prediction,
                headers=SERVED_BY_HEADER,
                errors=(400, 404, 409, 413, 503),
            ),
            202: {
                "description": "with Prefer: respond-async, the job was queued; GET its Location",
                "content": {"application/json": {"schema": {"type": "object"}}},
                "headers": {
                    "Location": {
                        "description": "the job's path as the client reaches it: /jobs/{id} under the "
                        "API's base path (/v1/jobs/{id} on the stage URL)",
                        "schema": {"type": "string"},
                    }
                },
            },
        },
    )
    def predict(name: str, request: Annotated[PredictRequest, Body()]) -> Response[Any]:
        # ``request`` is what Powertools validated (and documents); the model gets the client's bytes.
        spec = model_spec(name)
        raw = request_body(app.current_event.body, base64_encoded=app.current_event.is_base64_encoded)
        check_predict_body(raw, max_inputs=settings.max_inputs, max_body_bytes=settings.max_body_bytes)
        context = app.lambda_context
        return responder.answer(
            spec,
            raw,
            prefer=parse_prefer(app.current_event.headers.get("prefer")),
            base=base_path(app.current_event.raw_event),
            remaining_ms=None if context is None else context.get_remaining_time_in_millis,
        )

    @app.get(
        "/models/<name>/evaluation",
        responses=responses(200, "the model's evaluation.json", model=Evaluation, errors=(404, 409, 503)),
    )
    def evaluation(name: str) -> Response[Any]:
        spec = model_spec(name)
        return Response(
            status_code=200, content_type="application/json", body=artifacts.read(spec, "evaluation.json")
        )

    @app.get(
        "/models/<name>/confusion_matrix.png",
        responses=responses(
            200, "the model's confusion matrix plot", media_type="image/png", errors=(404, 409, 503)
        ),
    )
    def confusion_matrix(name: str):  # no return type: Powertools would validate the PNG as text
        spec = model_spec(name)
        return Response(
            status_code=200, content_type="image/png", body=artifacts.read(spec, "confusion_matrix.png")
        )

    @app.get("/openapi.json", responses=responses(200, "this document", model=None))
    def openapi() -> Response[Any]:
        return json_response(200, openapi_document(app))

    @app.get("/", responses=responses(200, "the web console", media_type="text/html"))
    @app.get("/console", responses=responses(200, "the web console", media_type="text/html"))
    def console():  # no return type: HTML is not validated
        return Response(status_code=200, content_type="text/html; charset=utf-8", body=CONSOLE.read_text())

    def explain_body() -> Response | None:
        """The 400/413 naming the input at fault, or None when the hand-written checks accept the body."""
        event = app.current_event
        if event.http_method != "POST" or not PREDICT_PATH.match(event.path):
            return None
        try:
            raw = request_body(event.body, base64_encoded=event.is_base64_encoded)
            check_predict_body(raw, max_inputs=settings.max_inputs, max_body_bytes=settings.max_body_bytes)
        except ApiError as explained:
            return explained.response()
        return None

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response:
        # Powertools' 422 becomes DESIGN.md's 400. The hand-written checks name the input and the reason
        # (and answer 413 for size); pydantic's own error is the fallback. test_openapi.py holds both
        # to the same verdicts.
        explained = explain_body()
        return explained or error_response(400, "invalid_input", describe_validation_error(error.errors()))

    @app.exception_handler([RecursionError, ValueError])
    def unreadable_body(error: Exception) -> Response:
        # Powertools parses the body before the route runs: bad base64, bytes that are not UTF-8, or
        # brackets nested past the parser's depth raise here rather than as a validation error.
        explained = explain_body()
        if explained is not None:
            return explained
        return unexpected(error)

    @app.not_found
    def not_found(_: Exception) -> Response:
        path = app.current_event.path
        allowed = sorted({method for method, pattern in ROUTES if pattern.match(path)})
        if app.current_event.http_method in allowed:
            # Powertools' path parameters take URL-safe characters only; no deployed model has a name
            # with others, so this is an unknown model, not a wrong method.
            return error_response(404, "unknown_model", f"no model at {path}; GET /models lists the models")
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
