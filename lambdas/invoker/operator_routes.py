"""Operator routes (issue 13): leases, putting a model to sleep now, and the lease part of a wake.

``POST /models/{m}/wake`` stays in ``app.py``; it calls ``Operator.lease_from_wake`` for its optional
``{"lease_minutes": N}`` body. The routes here are a Powertools Router the app includes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.endpoints import delete_endpoint
from seqserve_common.history import History
from seqserve_common.keep_warm import active
from seqserve_common.lifecycle import State
from seqserve_common.metrics import emit
from seqserve_common.reasons import iso, lead_seconds
from seqserve_common.settings import ModelSpec, Settings
from seqserve_common.state import StateStore
from seqserve_common.usage import MAX_DAYS, daily_usage, day_starts

from invoker.api_error import ApiError, json_response
from invoker.api_responses import responses

# A lease is a lease everywhere (keep_warm is the config's time windows); keep_warm_minutes is the
# field's earlier name, still accepted from existing clients.
LEASE_FIELD = "lease_minutes"
OLD_LEASE_FIELD = "keep_warm_minutes"
WAKE_FIELDS = (LEASE_FIELD, OLD_LEASE_FIELD)
DEFAULT_USAGE_DAYS = 7


def _epoch(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3))}


class Operator:
    def __init__(
        self,
        *,
        settings: Settings,
        store: StateStore,
        history: History,
        dynamodb: Any,
        sagemaker: Any,
        clock: Callable[[], float],
        logger: Logger,
    ) -> None:
        self._settings = settings
        self._store = store
        self._history = history
        self._dynamodb = dynamodb
        self._sagemaker = sagemaker
        self._clock = clock
        self._logger = logger

    def spec(self, name: str) -> ModelSpec:
        spec = self._settings.models.get(name)
        if spec is None:
            raise ApiError(
                404, "unknown_model", f"model {name!r} is not deployed; GET /models lists the models"
            )
        if not spec.on_demand:
            raise ApiError(
                409,
                "not_on_demand",
                f"model {name} is served in mode {spec.mode}; only on_demand models sleep",
            )
        return spec

    def lease_minutes(self, spec: ModelSpec, body: str | None) -> int | None:
        """``lease_minutes`` from a wake's body (None when the body is empty); 400 naming it."""
        if body is None or not body.strip():
            return None
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise ApiError(400, "invalid_input", 'wake body is not JSON; send {"lease_minutes": N}') from None
        if not isinstance(document, dict):
            raise ApiError(400, "invalid_input", 'wake body must be an object {"lease_minutes": N}')
        unknown = sorted(set(document) - set(WAKE_FIELDS))
        if unknown:
            raise ApiError(
                400, "invalid_input", f"wake body has unknown field {unknown[0]}; allowed: {LEASE_FIELD}"
            )
        if LEASE_FIELD in document and OLD_LEASE_FIELD in document:
            raise ApiError(
                400, "invalid_input", f"wake body gives both {LEASE_FIELD} and its old name {OLD_LEASE_FIELD}"
            )
        field = OLD_LEASE_FIELD if OLD_LEASE_FIELD in document else LEASE_FIELD
        minutes = document.get(field)
        if minutes is None:
            return None
        bound = spec.max_lease_minutes
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= bound:
            raise ApiError(
                400,
                "invalid_input",
                f"{field} must be an integer from 1 to {bound} (serving.max_lease_minutes), "
                f"got {json.dumps(minutes)}",
            )
        return minutes

    def set_lease(self, spec: ModelSpec, minutes: int) -> float:
        """The latest lease wins: it replaces any earlier one, shorter or longer."""
        until = round(self._clock() + minutes * 60, 3)
        self._dynamodb.update_item(
            TableName=self._settings.state_table,
            Key={"model": {"S": spec.name}},
            UpdateExpression="SET lease_until = :until",
            ExpressionAttributeValues={":until": _epoch(until)},
        )
        self._logger.info("lease set", extra={"model": spec.name, "lease_until": until})
        return until

    def end_lease(self, spec: ModelSpec) -> None:
        self._dynamodb.update_item(
            TableName=self._settings.state_table,
            Key={"model": {"S": spec.name}},
            UpdateExpression="REMOVE lease_until",
        )

    def sleep(self, spec: ModelSpec) -> tuple[int, State]:
        now = self._clock()
        held = active(spec.keep_warm, now, lead_seconds=lead_seconds(spec))
        if held is not None:
            raise ApiError(
                409,
                "held_by_window",
                f"model {spec.name} is held up by keep-warm window {held.window.label} until "
                f"{iso(held.end)}; it cannot be put to sleep inside it (change serving.keep_warm)",
            )
        item = self._store.get(spec.name)
        if item.state is State.WAKING:
            raise ApiError(
                409,
                "waking",
                f"model {spec.name} is waking; put it to sleep once it is awake "
                f"(GET /models/{spec.name}/status)",
            )
        # Putting a model down ends its lease: otherwise the reconciler would wake it again.
        self.end_lease(spec)
        if item.state in (State.ASLEEP, State.FAILED):
            return 200, item.state
        if item.state is State.SLEEPING:
            return 202, State.SLEEPING
        if self._store.transition(item, to=State.SLEEPING, now=self._clock()) is None:
            raise ApiError(
                409, "state_changed", f"model {spec.name}'s state changed meanwhile; GET its status and retry"
            )
        emit("Sleeps", model=spec.name)
        self._logger.info("put to sleep by an operator", extra={"model": spec.name})
        try:
            delete_endpoint(self._sagemaker, spec.endpoint_name)
        except (ClientError, BotoCoreError) as error:
            # The model is sleeping; the reconciler deletes a sleeping model's endpoint on its next run.
            self._logger.warning(
                "delete left to the reconciler", extra={"model": spec.name, "error": str(error)}
            )
        return 202, State.SLEEPING

    def usage(self, spec: ModelSpec, days_text: str | None) -> dict[str, Any]:
        days = _days(days_text)
        if not self._history.enabled:
            raise ApiError(
                404, "no_history", "usage history is not recorded in this deployment (no HISTORY_TABLE)"
            )
        now = self._clock()
        # This container's counts not yet written (they are coalesced) go first, so its own add up.
        self._history.flush_requests(spec.name, at=now)
        since = day_starts(days, now)[0]
        transitions, requests = self._history.read(spec.name, since=since)
        report = daily_usage(
            transitions=transitions,
            requests=requests,
            current=self._store.get(spec.name).state,
            days=days,
            now=now,
            hourly_price=spec.hourly_price,
        )
        return {"model": spec.name, **report}


def _days(text: str | None) -> int:
    if text is None:
        return DEFAULT_USAGE_DAYS
    if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise ApiError(400, "invalid_input", f"days must be an integer from 1 to {MAX_DAYS}, got {text!r}")
    return int(text)


def operator_router(operator: Operator) -> Router:
    router = Router()

    @router.post(
        "/models/<name>/sleep",
        responses={
            **responses(200, "the model was already asleep (or failed)", errors=(404, 409, 503)),
            202: {"description": "the model is going to sleep", "content": {"application/json": {}}},
        },
    )
    def sleep(name: str) -> Response[Any]:
        status, state = operator.sleep(operator.spec(name))
        return json_response(status, {"model": name, "state": state.value})

    @router.delete("/models/<name>/lease", responses=responses(200, "the lease ended", errors=(404, 503)))
    def end_lease(name: str) -> Response[Any]:
        operator.end_lease(operator.spec(name))
        return json_response(200, {"model": name, "lease_until": None})

    @router.get(
        "/models/<name>/usage",
        responses=responses(200, "per UTC day: minutes up, wakes, requests, cost", errors=(400, 404, 503)),
    )
    def usage(name: str) -> Response[Any]:
        days = router.current_event.get_query_string_value("days")
        return json_response(200, operator.usage(operator.spec(name), days))

    return router
