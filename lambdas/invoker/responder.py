"""Who answers a prediction: the endpoint, the serving function, the job queue, a hold, or a 503.

``who_answers`` is the whole choice, a pure function of what is known about the request and the
model: the order in which answerers are tried, the first one that answers wins. ``Responder`` follows
that order with the real clients and records the use. The choice, by case:

- ``Prefer: respond-async`` (not in mode ``lambda``): the job queue answers 202.
- mode ``lambda``: only the serving function; it answers at once, so a respond-async preference is
  not applied (RFC 7240 lets a server ignore it). If it cannot answer: 503 with Retry-After.
- any other mode: the endpoint first, with no describe per request. Only when SageMaker says it is
  missing or not in service (``endpoint_down``) do the others come in:
  - on_demand (the endpoint is woken first): the serving function (the bridge, where the model has
    one), then a hold (``Prefer: wait``), then 503 ``waking`` with Retry-After;
  - serverless and always_on: 503 ``unavailable`` (CloudFormation owns those endpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from seqserve_common.history import History
from seqserve_common.lifecycle import coalescing_seconds, retry_after_seconds
from seqserve_common.metrics import emit
from seqserve_common.settings import LAMBDA_MODE, ModelSpec
from seqserve_common.state import StateItem

from invoker.api_error import RETRY_STARTING_SECONDS, RETRY_UNAVAILABLE_SECONDS, ApiError
from invoker.endpoint_call import EndpointDown, invoke
from invoker.function_call import call_function
from invoker.job_routes import Preferences, QueuedPredictions
from invoker.recorder import InvocationRecorder
from invoker.waker import Waker

SERVED_BY = "X-Served-By"
# The header as predict's 200 documents it (docs/openapi.json).
SERVED_BY_HEADER = {
    SERVED_BY: {
        "description": "who answered: `endpoint` (the model's SageMaker endpoint) or `lambda` (its serving "
        "function: mode lambda, or an on_demand model's bridge while its endpoint wakes); the answers "
        "agree within 1e-4 in score",
        "schema": {"type": "string", "enum": ["endpoint", "lambda"]},
        "required": True,
    }
}


class Answerer(StrEnum):
    QUEUE = "queue"
    ENDPOINT = "endpoint"
    LAMBDA = "lambda"
    HOLD = "hold"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, kw_only=True)
class Situation:
    mode: str
    has_function: bool
    respond_async: bool = False
    # Prefer: wait=N, in a Lambda whose remaining time can be read.
    can_hold: bool = False
    # SageMaker just said the endpoint is missing or not in service.
    endpoint_down: bool = False


def who_answers(situation: Situation) -> tuple[Answerer, ...]:
    """The answerers to try, in order; the last one always answers (a 202, or an error at worst)."""
    if situation.mode == LAMBDA_MODE:
        return (Answerer.LAMBDA, Answerer.UNAVAILABLE)
    if situation.respond_async:
        return (Answerer.QUEUE,)
    if not situation.endpoint_down:
        return (Answerer.ENDPOINT,)
    if situation.mode != "on_demand":
        return (Answerer.UNAVAILABLE,)
    bridge = (Answerer.LAMBDA,) if situation.has_function else ()
    hold = (Answerer.HOLD,) if situation.can_hold else ()
    return (*bridge, *hold, Answerer.UNAVAILABLE)


class Responder:
    def __init__(
        self,
        *,
        runtime: Any,
        lambda_client: Any,
        waker: Waker,
        queued: QueuedPredictions,
        recorder: InvocationRecorder,
        history: History,
        clock: Callable[[], float],
        logger: Logger,
    ) -> None:
        self._runtime = runtime
        self._lambda = lambda_client
        self._waker = waker
        self._queued = queued
        self._recorder = recorder
        self._history = history
        self._clock = clock
        self._logger = logger

    def answer(
        self,
        spec: ModelSpec,
        body: bytes,
        *,
        prefer: Preferences,
        base: str = "",
        remaining_ms: Callable[[], int] | None = None,
    ) -> Response:
        """The client's response: 200 with X-Served-By, 202 for a queued job; errors raise ApiError.

        ``remaining_ms``: the Lambda's remaining time (None outside a Lambda: no hold)."""
        situation = Situation(
            mode=spec.mode,
            has_function=spec.serving_function is not None and self._lambda is not None,
            respond_async=prefer.respond_async,
            can_hold=bool(prefer.wait) and remaining_ms is not None,
        )
        if who_answers(situation) == (Answerer.QUEUE,):
            return self._queued.submit(spec, body, base=base)
        if spec.on_demand:
            # When the request starts, so a request in flight while the reconciler decides is seen.
            self._recorder.record(spec)
        try:
            text, served_by = self._follow(spec, body, situation, prefer=prefer, remaining_ms=remaining_ms)
        except ApiError as error:
            # Answered by a model or by SageMaker (4xx, 429, 502, 504): the model is in use.
            if error.status != 503:
                self._used(spec)
            raise
        # Served by the function too: a model in use wakes, and stays awake.
        self._used(spec)
        emit("Predictions", model=spec.name)
        emit(f"PredictionsBy{served_by.title()}", model=spec.name)
        return Response(
            status_code=200, content_type="application/json", body=text, headers={SERVED_BY: served_by}
        )

    def _used(self, spec: ModelSpec) -> None:
        self._history.count_request(
            spec.name, at=self._clock(), every_seconds=coalescing_seconds(spec.idle_minutes)
        )
        if spec.on_demand:
            self._recorder.record(spec)

    def _follow(
        self,
        spec: ModelSpec,
        body: bytes,
        situation: Situation,
        *,
        prefer: Preferences,
        remaining_ms: Callable[[], int] | None,
        woken: StateItem | None = None,
    ) -> tuple[str, str]:
        for answerer in who_answers(situation):
            if answerer is Answerer.ENDPOINT:
                try:
                    return self._endpoint(spec, body), Answerer.ENDPOINT.value
                except EndpointDown:
                    emit("EndpointDown", model=spec.name)
                woken = (
                    self._waker.wake(spec, endpoint_down=True, retry_failed=False) if spec.on_demand else None
                )
                down = replace(situation, endpoint_down=True)
                return self._follow(spec, body, down, prefer=prefer, remaining_ms=remaining_ms, woken=woken)
            if answerer is Answerer.LAMBDA:
                text = call_function(
                    self._lambda,
                    model=spec.name,
                    function=spec.serving_function,
                    body=body,
                    logger=self._logger,
                )
                if text is not None:
                    return text, Answerer.LAMBDA.value
            elif answerer is Answerer.HOLD:
                held = self._queued.hold(spec, body, seconds=prefer.wait, remaining_ms=remaining_ms())
                if held is not None:
                    return held, Answerer.ENDPOINT.value
            elif answerer is Answerer.UNAVAILABLE:
                raise self._unavailable(spec, woken)
        raise AssertionError(f"who_answers left {situation} without a final answerer")  # pragma: no cover

    def _endpoint(self, spec: ModelSpec, body: bytes) -> str:
        starting = RETRY_STARTING_SECONDS if spec.mode == "serverless" else None
        return invoke(
            self._runtime,
            model=spec.name,
            endpoint_name=spec.endpoint_name,
            body=body,
            starting_retry_after=starting,
        )

    def _unavailable(self, spec: ModelSpec, woken: StateItem | None) -> ApiError:
        if woken is not None:
            return ApiError(
                503,
                "waking",
                f"model {spec.name} is waking up; retry later",
                retry_after=retry_after_seconds(woken, now=self._clock()),
            )
        if spec.lambda_only:
            message = f"model {spec.name}'s serving function could not answer in time; retry later"
        else:
            message = f"model {spec.name}'s endpoint is not in service; retry later"
        return ApiError(503, "unavailable", message, retry_after=RETRY_UNAVAILABLE_SECONDS)
