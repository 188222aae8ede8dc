"""Wake on demand: one conditional state transition picks the one caller that creates the endpoint.

A wake never leaves a state the reconciler (idle_checker) cannot finish: the state is ``waking`` before
CreateEndpoint is called, so a create whose answer is lost or unclear, or a Lambda that runs out of
time after the transition, leaves ``waking``; the reconciler then finds the endpoint (and moves to
awake) or, past its grace, creates it again (docs/internals.md, the action table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.endpoints import (
    BAD_STATUSES,
    TRANSIENT_CODES,
    already_exists,
    describe_endpoint,
    error_code,
    error_message,
)
from seqserve_common.lifecycle import State, retry_after_seconds
from seqserve_common.metrics import emit
from seqserve_common.settings import ModelSpec
from seqserve_common.state import StateItem, StateStore

from invoker.api_error import RETRY_UNAVAILABLE_SECONDS, ApiError

# A caller that loses the transition re-reads once: usually it finds "waking" (another caller won),
# but the reconciler may have won a "sleeping -> asleep" race, and then this caller wakes it.
WAKE_ATTEMPTS = 2


class Waker:
    def __init__(
        self,
        *,
        store: StateStore,
        sagemaker: Any,
        clock: Callable[[], float],
        logger: Logger,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        # SageMaker's CreateEndpoint Tags: the deployment's tags on the endpoints CloudFormation never sees.
        self._tags = [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
        self._store = store
        self._sagemaker = sagemaker
        self._clock = clock
        self._logger = logger

    def wake(self, spec: ModelSpec, *, endpoint_down: bool, retry_failed: bool) -> StateItem:
        """The model's item after this call: awake (only if not ``endpoint_down``) or waking.

        ``endpoint_down``: SageMaker just said the endpoint is missing or not in service, so an
        "awake" state is stale. ``retry_failed``: a failed model is woken again (an explicit wake);
        otherwise its failure is reported, so requests do not recreate a failing endpoint in a loop.
        """
        for _ in range(WAKE_ATTEMPTS):
            item = self._wake_from(
                spec, self._store.get(spec.name), endpoint_down=endpoint_down, retry_failed=retry_failed
            )
            if item is not None:
                return item
        # Lost every race: other callers keep moving the state, and the one moving it to waking creates.
        return self._store.get(spec.name)

    def _wake_from(
        self, spec: ModelSpec, seen: StateItem, *, endpoint_down: bool, retry_failed: bool
    ) -> StateItem | None:
        """Wake from the state in ``seen``; None when another caller changed the state first."""
        if seen.state is State.WAKING or (seen.state is State.AWAKE and not endpoint_down):
            return seen
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
                retry_after=retry_after_seconds(seen, now=self._clock()),
            )
        config_name = seen.endpoint_config_name or spec.endpoint_config_name
        if not config_name:
            raise ApiError(
                409,
                "not_trained",
                f"model {spec.name} has no endpoint configuration yet; a training run must finish first",
            )
        waking = self._store.transition(seen, to=State.WAKING, now=self._clock(), create_attempted=True)
        if waking is None:
            return None
        emit("WakesStarted", model=spec.name)
        self._logger.info("waking the model", extra={"model": spec.name, "from": seen.state.value})
        # A failed model's endpoint failure was reported when the model moved to failed.
        return self._create(spec, config_name=config_name, waking=waking, reported=seen.state is State.FAILED)

    def _create(self, spec: ModelSpec, *, config_name: str, waking: StateItem, reported: bool) -> StateItem:
        try:
            self._sagemaker.create_endpoint(
                EndpointName=spec.endpoint_name,
                EndpointConfigName=config_name,
                **({"Tags": self._tags} if self._tags else {}),
            )
        except ClientError as error:
            if already_exists(error):
                return self._on_existing(spec, waking, reported=reported)
            code = error_code(error)
            if code in TRANSIENT_CODES:
                # The endpoint may or may not have been created: stay waking; the reconciler looks.
                raise self._unavailable(spec, code) from None
            reason = f"CreateEndpoint failed: {code}: {error_message(error)}"
            # The notice is owed from this write on; the reconciler claims and sends it (once).
            self._store.transition(
                waking, to=State.FAILED, now=self._clock(), failure_reason=reason, notice=True
            )
            self._logger.error("could not create the endpoint", extra={"model": spec.name, "reason": reason})
            raise ApiError(502, "wake_failed", f"model {spec.name} could not be woken: {reason}") from None
        except BotoCoreError as error:
            raise self._unavailable(spec, type(error).__name__) from None
        return waking

    def _on_existing(self, spec: ModelSpec, waking: StateItem, *, reported: bool) -> StateItem:
        """CreateEndpoint said "already exists": what to do depends on that endpoint's status.

        ``reported``: the wake started from ``failed``, whose move already owed the notice.
        """
        try:
            endpoint = describe_endpoint(self._sagemaker, spec.endpoint_name)
        except (ClientError, BotoCoreError):
            # Unknown for now; the reconciler describes it on its next run and acts on that status.
            return waking
        status = endpoint.status
        if status in BAD_STATUSES:
            # Failed or OutOfService (an endpoint that updates or rolls back still serves: the wake goes
            # on). It is not deleted yet; the reconciler deletes it. A model that was failed already had
            # this failure reported; otherwise this caller saw it first and the notice is owed now.
            why = endpoint.failure_reason or "no reason given"
            reason = f"the endpoint is {status} ({why}) and is being deleted; wake again in a few minutes"
            self._store.transition(
                waking, to=State.FAILED, now=self._clock(), failure_reason=reason, notice=not reported
            )
            raise ApiError(502, "endpoint_failed", f"model {spec.name}'s endpoint failed: {reason}")
        # Creating or serving: the wake is under way (the reconciler moves it to awake). Deleting: the
        # reconciler creates it once it is gone.
        return waking

    def _unavailable(self, spec: ModelSpec, code: str) -> ApiError:
        self._logger.warning("CreateEndpoint answer unclear", extra={"model": spec.name, "code": code})
        return ApiError(
            503,
            "waking",
            f"model {spec.name} is waking up (SageMaker answered {code}; the idle check follows up); "
            "retry later",
            retry_after=RETRY_UNAVAILABLE_SECONDS,
        )
