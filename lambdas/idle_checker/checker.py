"""One pass of the idle check over every on-demand model.

Each change is a conditional transition on the state this run read, so two overlapping runs, or a
run overlapping the invoker, cannot both act: the loser sees the condition fail and leaves the model
to the winner. Deleting an endpoint that is already gone counts as done.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.desired import up_reasons
from seqserve_common.endpoints import EndpointStatus, delete_endpoint, describe_endpoint
from seqserve_common.history import History
from seqserve_common.lifecycle import State, idle_cutoff
from seqserve_common.metrics import emit
from seqserve_common.reasons import should_wake
from seqserve_common.settings import ModelSpec, Settings
from seqserve_common.state import StateItem, StateStore

# A waking model with no endpoint this long after the transition lost its CreateEndpoint call.
WAKE_GRACE_SECONDS = 120.0
# States in which nothing runs or is about to run, so the schedule may stop.
QUIET_STATES = frozenset({State.ASLEEP.value, State.FAILED.value})
ERROR = "error"


class IdleChecker:
    def __init__(
        self,
        *,
        settings: Settings,
        sagemaker: Any,
        dynamodb: Any,
        events: Any,
        sns: Any,
        clock: Callable[[], float],
        logger: Logger,
    ) -> None:
        self._settings = settings
        self._sagemaker = sagemaker
        history = History(dynamodb=dynamodb, table=settings.history_table, logger=logger)
        self._store = StateStore(
            dynamodb=dynamodb, table=settings.state_table, on_transition=history.record_transition
        )
        self._events = events
        self._sns = sns
        self._clock = clock
        self._logger = logger

    @property
    def watched(self) -> list[ModelSpec]:
        return [spec for spec in self._settings.models.values() if spec.on_demand]

    def run(self) -> dict[str, str]:
        """Check every watched model; return each one's state afterwards ("error" if AWS failed)."""
        results: dict[str, str] = {}
        for spec in self.watched:
            try:
                results[spec.name] = self._check(spec).value
            except (ClientError, BotoCoreError):
                self._logger.exception("idle check failed for a model", extra={"model": spec.name})
                results[spec.name] = ERROR
        # A keep-warm window needs the check to run while everything sleeps, to wake its model in time.
        if set(results.values()) <= QUIET_STATES and not any(spec.keep_warm for spec in self.watched):
            self._stop_schedule()
        return results

    def _check(self, spec: ModelSpec) -> State:
        item = self._store.get(spec.name)
        endpoint = describe_endpoint(self._sagemaker, spec.endpoint_name)
        state = item.state
        if endpoint.status == "Failed" and state in {State.WAKING, State.AWAKE}:
            return self._fail(spec, item, endpoint)
        if state is State.WAKING:
            return self._check_waking(spec, item, endpoint)
        if state is State.AWAKE:
            return self._check_awake(spec, item, endpoint)
        if state is State.SLEEPING:
            return self._check_sleeping(spec, item, endpoint)
        if state is State.FAILED:
            if endpoint.exists and endpoint.status != "Deleting":
                delete_endpoint(self._sagemaker, spec.endpoint_name)
            return state
        if endpoint.exists:
            self._logger.warning(
                "model is asleep but its endpoint exists; left alone",
                extra={"model": spec.name, "endpoint_status": endpoint.status},
            )
            return state
        reason = should_wake(spec, item, self._clock())
        return state if reason is None else self._wake(spec, item, reason)

    def _wake(self, spec: ModelSpec, item: StateItem, reason: str) -> State:
        """Wake an asleep model a keep-warm window, lease or queued job asks for (issue 13)."""
        config_name = item.endpoint_config_name or spec.endpoint_config_name
        if config_name is None or not self._move(item, to=State.WAKING):
            return item.state if config_name is None else self._now_state(spec.name)
        self._logger.info("waking the model", extra={"model": spec.name, "reason": reason})
        # A create that fails leaves "waking" without an endpoint, which the grace below sends back to
        # asleep, and the next run tries again.
        self._sagemaker.create_endpoint(EndpointName=spec.endpoint_name, EndpointConfigName=config_name)
        emit("WakesStarted", model=spec.name)
        return State.WAKING

    def _move(self, item: StateItem, *, to: State, **kwargs: Any) -> bool:
        """Try the conditional transition; False when another caller changed the state first."""
        if self._store.transition(item, to=to, now=self._clock(), **kwargs) is None:
            self._logger.info("another caller changed the state first", extra={"model": item.model})
            return False
        self._logger.info(
            "state changed", extra={"model": item.model, "from": item.state.value, "to": to.value}
        )
        return True

    def _now_state(self, model: str) -> State:
        """The state a race's winner left: the loser reports it and acts on nothing."""
        return self._store.get(model).state

    def _check_waking(self, spec: ModelSpec, item: StateItem, endpoint: EndpointStatus) -> State:
        if endpoint.status == "InService":
            if not self._move(item, to=State.AWAKE):
                return self._now_state(spec.name)
            emit("Wakes", model=spec.name)
            return State.AWAKE
        changed_at = item.state_changed_at or 0.0
        if not endpoint.exists and self._clock() - changed_at > WAKE_GRACE_SECONDS:
            self._logger.warning("waking without an endpoint; back to asleep", extra={"model": spec.name})
            return State.ASLEEP if self._move(item, to=State.ASLEEP) else self._now_state(spec.name)
        return item.state

    def _check_awake(self, spec: ModelSpec, item: StateItem, endpoint: EndpointStatus) -> State:
        if not endpoint.exists:
            self._logger.warning("awake but the endpoint is gone; now asleep", extra={"model": spec.name})
            return State.ASLEEP if self._move(item, to=State.ASLEEP) else self._now_state(spec.name)
        now = self._clock()
        cutoff = idle_cutoff(now=now, idle_minutes=spec.idle_minutes)
        if up_reasons(spec=spec, item=item, now=now):
            return item.state
        # The condition re-checks last_invoked_at, so a request recorded since the read keeps it awake.
        if not self._move(item, to=State.SLEEPING, idle_before=cutoff):
            return self._now_state(spec.name)
        delete_endpoint(self._sagemaker, spec.endpoint_name)
        emit("Sleeps", model=spec.name)
        emit("MinutesAwake", model=spec.name, value=(now - (item.state_changed_at or now)) / 60)
        return State.SLEEPING

    def _check_sleeping(self, spec: ModelSpec, item: StateItem, endpoint: EndpointStatus) -> State:
        if not endpoint.exists:
            return State.ASLEEP if self._move(item, to=State.ASLEEP) else self._now_state(spec.name)
        if endpoint.status != "Deleting":
            # A run that won the transition did not get to delete the endpoint: finish its work.
            delete_endpoint(self._sagemaker, spec.endpoint_name)
        return item.state

    def _fail(self, spec: ModelSpec, item: StateItem, endpoint: EndpointStatus) -> State:
        reason = endpoint.failure_reason or "the endpoint's status is Failed (no reason given)"
        if not self._move(item, to=State.FAILED, failure_reason=reason):
            return self._now_state(spec.name)
        # Report before deleting: only the run that won the transition reports, so a delete that raises
        # must not swallow the notice. A later run in state failed retries the delete.
        emit("Failures", model=spec.name)
        if item.state is State.AWAKE and item.state_changed_at is not None:
            emit("MinutesAwake", model=spec.name, value=(self._clock() - item.state_changed_at) / 60)
        self._notify_failure(spec, reason)
        delete_endpoint(self._sagemaker, spec.endpoint_name)
        return State.FAILED

    def _notify_failure(self, spec: ModelSpec, reason: str) -> None:
        if self._settings.notify_topic_arn is None:
            return
        message = {
            "model": spec.name,
            "endpoint_name": spec.endpoint_name,
            "state": State.FAILED.value,
            "reason": reason,
            "action": f"the endpoint was deleted; POST /models/{spec.name}/wake to try again",
        }
        try:
            self._sns.publish(
                TopicArn=self._settings.notify_topic_arn,
                Subject=f"seqserve: the endpoint of model {spec.name} failed"[:100],
                Message=json.dumps(message),
            )
        except (ClientError, BotoCoreError):
            # The state already says failed, with the reason; a lost notice must not undo that.
            self._logger.exception("could not publish the failure notice", extra={"model": spec.name})

    def _stop_schedule(self) -> None:
        """Disable the rule, then re-read: a wake that raced the disable turns it back on."""
        rule = self._settings.idle_rule_name
        if rule is None:
            return
        self._events.disable_rule(Name=rule)
        woken = [
            spec.name for spec in self.watched if self._store.get(spec.name).state.value not in QUIET_STATES
        ]
        if woken:
            self._events.enable_rule(Name=rule)
            self._logger.info(
                "a model woke while the schedule stopped; rule re-enabled", extra={"models": woken}
            )
        else:
            self._logger.info("every watched model is asleep; idle rule disabled", extra={"rule": rule})
