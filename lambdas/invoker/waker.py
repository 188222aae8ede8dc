"""Wake on demand: one conditional state transition picks the one caller that creates the endpoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.endpoints import THROTTLING_CODES, describe_endpoint, error_code, error_message
from seqserve_common.lifecycle import State
from seqserve_common.metrics import emit
from seqserve_common.settings import ModelSpec
from seqserve_common.state import StateItem, StateStore

from invoker.api_error import RETRY_UNAVAILABLE_SECONDS, RETRY_WAKING_SECONDS, ApiError

TRANSIENT_CODES = THROTTLING_CODES | {"InternalFailure", "ServiceUnavailable"}
# A caller that loses the transition re-reads once: usually it finds "waking" (another caller won),
# but the idle checker may have won a "sleeping -> asleep" race, and then this caller wakes it.
WAKE_ATTEMPTS = 2


def _already_exists(error: ClientError) -> bool:
    return error_code(error) in {"ValidationException", "ValidationError"} and (
        "already existing" in error_message(error).lower() or "already exists" in error_message(error).lower()
    )


class Waker:
    def __init__(
        self,
        *,
        store: StateStore,
        sagemaker: Any,
        events: Any,
        idle_rule_name: str | None,
        clock: Callable[[], float],
        logger: Logger,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        # SageMaker's CreateEndpoint Tags: the deployment's tags on the endpoints CloudFormation never sees.
        self._tags = [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
        self._store = store
        self._sagemaker = sagemaker
        self._events = events
        self._idle_rule_name = idle_rule_name
        self._clock = clock
        self._logger = logger

    def wake(self, spec: ModelSpec, *, endpoint_down: bool, retry_failed: bool) -> State:
        """The model's state after this call: awake (only if not ``endpoint_down``) or waking.

        ``endpoint_down``: SageMaker just said the endpoint is missing or not in service, so an
        "awake" state is stale. ``retry_failed``: a failed model is woken again (an explicit wake);
        otherwise its failure is reported, so requests do not recreate a failing endpoint in a loop.
        """
        for _ in range(WAKE_ATTEMPTS):
            state = self._wake_from(
                spec, self._store.get(spec.name), endpoint_down=endpoint_down, retry_failed=retry_failed
            )
            if state is not None:
                return state
        # Lost every race: other callers keep moving the state, and the one moving it to waking creates.
        return State.WAKING

    def _wake_from(
        self, spec: ModelSpec, seen: StateItem, *, endpoint_down: bool, retry_failed: bool
    ) -> State | None:
        """Wake from the state in ``seen``; None when another caller changed the state first."""
        if seen.state is State.WAKING or (seen.state is State.AWAKE and not endpoint_down):
            return seen.state
        if seen.state is State.FAILED and not retry_failed:
            raise ApiError(
                502,
                "endpoint_failed",
                f"model {spec.name}'s endpoint failed ({seen.failure_reason or 'no reason recorded'}); "
                f"POST /models/{spec.name}/wake to try again",
            )
        if seen.state is State.SLEEPING and describe_endpoint(self._sagemaker, spec.endpoint_name).exists:
            raise ApiError(
                503,
                "sleeping",
                f"model {spec.name}'s idle endpoint is being deleted; retry to wake it",
                retry_after=RETRY_WAKING_SECONDS,
            )
        config_name = seen.endpoint_config_name or spec.endpoint_config_name
        if not config_name:
            raise ApiError(
                409,
                "not_trained",
                f"model {spec.name} has no endpoint configuration yet; a training run must finish first",
            )
        waking = self._store.transition(seen, to=State.WAKING, now=self._clock())
        if waking is None:
            return None
        # Before the create: a create whose answer is lost may still make an endpoint, which only the
        # idle check then finds (and moves to awake, or back to asleep after its grace).
        self._enable_idle_rule(spec)
        self._create(spec, config_name=config_name, waking=waking)
        emit("WakesStarted", model=spec.name)
        self._logger.info("waking the model", extra={"model": spec.name, "from": seen.state.value})
        return State.WAKING

    def _create(self, spec: ModelSpec, *, config_name: str, waking: StateItem) -> None:
        try:
            self._sagemaker.create_endpoint(
                EndpointName=spec.endpoint_name,
                EndpointConfigName=config_name,
                **({"Tags": self._tags} if self._tags else {}),
            )
        except ClientError as error:
            if _already_exists(error):
                return
            code = error_code(error)
            if code in TRANSIENT_CODES:
                self._store.transition(waking, to=State.ASLEEP, now=self._clock())
                raise ApiError(
                    503,
                    "unavailable",
                    f"SageMaker could not create model {spec.name}'s endpoint now ({code}); retry later",
                    retry_after=RETRY_UNAVAILABLE_SECONDS,
                ) from None
            reason = f"CreateEndpoint failed: {code}: {error_message(error)}"
            self._store.transition(waking, to=State.FAILED, now=self._clock(), failure_reason=reason)
            self._logger.error("could not create the endpoint", extra={"model": spec.name, "reason": reason})
            raise ApiError(502, "wake_failed", f"model {spec.name} could not be woken: {reason}") from None

    def _enable_idle_rule(self, spec: ModelSpec) -> None:
        if self._idle_rule_name is None:
            return
        try:
            self._events.enable_rule(Name=self._idle_rule_name)
        except (ClientError, BotoCoreError) as error:
            # The endpoint is being created; only the idle check is late. Counted so an alarm can see it.
            self._logger.error(
                "could not enable the idle rule", extra={"model": spec.name, "error": str(error)}
            )
            emit("IdleRuleEnableFailures", model=spec.name)
