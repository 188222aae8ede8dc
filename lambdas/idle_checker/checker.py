"""The reconciler: each run observes every on-demand model's state item and endpoint and moves it
one step toward "up" or "down" (DESIGN.md, endpoint lifecycle; the action table is in docs/internals.md).

Safety rules every action follows:
- Each change is a conditional write on the item this run read, so overlapping runs, duplicate
  deliveries and the invoker cannot both act: the loser sees the condition fail and does nothing.
- A DeleteEndpoint is preceded by a conditional write (``claim_delete``) that re-checks the state and,
  for an idle model, that no use was recorded since and that no lease or job holds it (the move to
  ``sleeping`` has the same condition), with keep-warm windows decided on the clock of that write: a
  delete never acts on a stale read.
- Every transitional state has a deadline (``waking``: ``max_wake_minutes``; ``sleeping``: deletes
  retried each run until the endpoint is gone), and an endpoint no state tracks is adopted, but only if
  it carries this deployment's tag (seqserve_common.ownership): one without the tag is reported, never
  touched, and another deployment's is left alone.
- Each model is reconciled on its own: any error in one (AWS, or a state item of a foreign shape) is
  logged with the model and its key and counted, and the others still run. An item that does not parse
  is repaired from the observed endpoint by one rule (``repaired_state``).
- A failure notice is owed from the move to failed (written with it) and sent by whoever claims it,
  once, whether the invoker or the reconciler saw the failure first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.desired import up_reasons
from seqserve_common.endpoints import (
    BAD_STATUSES,
    CREATING_STATUSES,
    DELETING_STATUSES,
    SERVING_STATUSES,
    TRANSIENT_CODES,
    EndpointStatus,
    ListedEndpoint,
    already_exists,
    delete_endpoint,
    describe_endpoint,
    endpoint_tags,
    error_code,
    error_message,
    list_endpoints,
)
from seqserve_common.history import History
from seqserve_common.jobs import live_holds
from seqserve_common.lifecycle import State, coalescing_seconds, idle_cutoff
from seqserve_common.metrics import emit
from seqserve_common.ownership import DEPLOYMENT_TAG, owner_of
from seqserve_common.reasons import should_wake, window_reason
from seqserve_common.settings import ModelSpec, Settings
from seqserve_common.state import StateItem, StateStore

# A waking model with no endpoint this long after its latest CreateEndpoint call lost that call
# (its answer was unclear, or the invoker ran out of time): the reconciler creates it again. Longer
# than the invoker's whole timeout, so a wake still in flight is never doubled.
WAKE_GRACE_SECONDS = 60.0
# CreateEndpoint calls per wake (the invoker's first one included) before the wake fails.
MAX_CREATE_ATTEMPTS = 3
# The state items of endpoints no model owns are keyed by this prefix and the endpoint name.
UNTRACKED = "untracked:"
# The metric dimension of app-wide reconciler metrics (untracked endpoints, a failed listing).
APP_DIMENSION = "_app"
ERROR = "error"
# The result of an endpoint with this app's prefix that is not this deployment's: left alone.
IGNORED = "ignored"
# States that need ``state_changed_at`` (a deadline or an idle period counts from it).
TIMED_STATES = frozenset({State.WAKING, State.AWAKE, State.SLEEPING})


def needs_repair(item: StateItem) -> bool:
    """An item the table cannot act on: an attribute of a foreign shape, or a timed state without its time."""
    return bool(item.problems) or (item.stored_state in TIMED_STATES and item.state_changed_at is None)


def repaired_state(endpoint: EndpointStatus) -> State:
    """The one repair rule: the state the observed endpoint implies, from now.

    No endpoint: asleep. Creating: waking. Deleting: sleeping. Any other status (serving, or broken):
    awake, and the table's action for awake and that status runs next (broken: the failure path).
    """
    if not endpoint.exists:
        return State.ASLEEP
    if endpoint.status in CREATING_STATUSES:
        return State.WAKING
    if endpoint.status in DELETING_STATUSES:
        return State.SLEEPING
    return State.AWAKE


def _bad_status_reason(endpoint: EndpointStatus) -> str:
    return endpoint.failure_reason or f"the endpoint's status is {endpoint.status} (no reason given)"


class IdleChecker:
    def __init__(
        self,
        *,
        settings: Settings,
        sagemaker: Any,
        dynamodb: Any,
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
        self._sns = sns
        self._clock = clock
        self._logger = logger
        # (ARN, creation time) -> the deployment tag's value: a listed endpoint's owner never changes,
        # so a warm container asks ListTags once per endpoint, not once per run.
        self._owners: dict[tuple[str, str], str | None] = {}

    @property
    def watched(self) -> list[ModelSpec]:
        return [spec for spec in self._settings.models.values() if spec.on_demand]

    def run(self) -> dict[str, str]:
        """Reconcile every watched model; return each one's state afterwards ("error" if AWS failed)."""
        results: dict[str, str] = {}
        for spec in self.watched:
            try:
                results[spec.name] = self._reconcile(spec).value
            except Exception:  # any error of one model, AWS's or a foreign-shaped item's: the others run
                self._logger.exception(
                    "reconciling a model failed", extra={"model": spec.name, "key": spec.name}
                )
                emit("ReconcilerErrors", model=spec.name)
                results[spec.name] = ERROR
        if self._settings.endpoint_prefix is not None:
            try:
                results.update(self._reconcile_untracked())
            except Exception:
                self._logger.exception("listing this app's endpoints failed")
                emit("ReconcilerErrors", model=APP_DIMENSION)
        return results

    # -- one model ---------------------------------------------------------------------------------

    def _reconcile(self, spec: ModelSpec) -> State:
        item = self._store.get(spec.name)
        endpoint = describe_endpoint(self._sagemaker, spec.endpoint_name)
        if needs_repair(item):
            repaired = self._repair(spec.name, item, endpoint)
            if repaired is None:
                return self._now_state(spec.name)
            item = repaired
        if item.notice_pending is not None:
            # A failure notice still owed: the invoker failed a wake, or a run lost the answer of its
            # move to failed (in any state since: a wake retried at once does not cancel it).
            self._send_notice(spec, item)
        self._count_minutes_awake(spec, item, endpoint)
        state = item.state
        if state is State.WAKING:
            return self._waking(spec, item, endpoint)
        if state is State.AWAKE:
            return self._awake(spec, item, endpoint)
        if state is State.SLEEPING:
            return self._sleeping(spec, item, endpoint)
        if state is State.FAILED:
            if endpoint.exists and endpoint.status not in DELETING_STATUSES:
                self._delete(spec, item)
            return state
        return self._asleep(spec, item, endpoint)

    def _repair(self, key: str, item: StateItem, endpoint: EndpointStatus) -> StateItem | None:
        """Rewrite an item that does not parse as ``repaired_state`` says; None if it changed meanwhile."""
        to = repaired_state(endpoint)
        problems = list(item.problems) or ["state_changed_at (missing)"]
        self._logger.warning(
            "state item repaired from the endpoint",
            extra={
                "model": item.model,
                "key": key,
                "problems": problems,
                "status": endpoint.status,
                "to": to.value,
            },
        )
        emit("StateRepairs", model=item.model if not key.startswith(UNTRACKED) else APP_DIMENSION)
        return self._store.repair(item, to=to, now=self._clock(), in_use=endpoint.exists)

    def _asleep(self, spec: ModelSpec, item: StateItem, endpoint: EndpointStatus) -> State:
        if endpoint.status in DELETING_STATUSES:
            return item.state
        if not endpoint.exists:
            reason = should_wake(spec, item, self._clock())
            return item.state if reason is None else self._wake(spec, item, reason)
        # The name is this model's, but only the tag proves the endpoint is this deployment's.
        tags = self._tags(endpoint.arn)
        if tags is None:
            return item.state  # gone since the describe
        if not self._settings.owns(tags):
            self._report_unowned(spec.endpoint_name, owner_of(tags), key=spec.name, dimension=spec.name)
            return item.state
        emit("OrphansAdopted", model=spec.name)
        self._logger.warning(
            "asleep but its endpoint exists: adopted", extra={"model": spec.name, "status": endpoint.status}
        )
        if endpoint.status in BAD_STATUSES:
            # Nobody wants a broken endpoint nobody tracks: delete it, the model stays asleep.
            self._delete(spec, item)
            return item.state
        # Awake from now (waking while it is still being created), so it is idle-deleted later.
        to = State.AWAKE if endpoint.status in SERVING_STATUSES else State.WAKING
        return self._settle(self._move(item, to=to), spec)

    def _wake(self, spec: ModelSpec, item: StateItem, reason: str) -> State:
        """Wake an asleep model that a keep-warm window or a lease asks for (issue 13)."""
        config_name = item.endpoint_config_name or spec.endpoint_config_name
        if not config_name:
            return item.state
        waking = self._move(item, to=State.WAKING, create_attempted=True)
        if waking is None:
            return self._now_state(spec.name)
        self._logger.info("waking the model", extra={"model": spec.name, "reason": reason})
        emit("WakesStarted", model=spec.name)
        try:
            self._create_endpoint(spec, config_name)
        except ClientError as error:
            if already_exists(error) or error_code(error) in TRANSIENT_CODES:
                # Created after all, or unclear: the next run describes it and acts on its status.
                return waking.state
            return self._fail(
                spec, waking, f"CreateEndpoint failed: {error_code(error)}: {error_message(error)}"
            )
        return waking.state

    def _waking(self, spec: ModelSpec, item: StateItem, endpoint: EndpointStatus) -> State:
        now = self._clock()
        # Never None here: a waking item without it is repaired first (needs_repair).
        started = item.state_changed_at or now
        if endpoint.status in SERVING_STATUSES:
            # InService, or serving while SageMaker updates it: the wake is done either way.
            moved = self._move(item, to=State.AWAKE, wake_seconds=max(0.0, now - started))
            if moved is None:
                return self._now_state(spec.name)
            emit("Wakes", model=spec.name)
            return moved.state
        if endpoint.status in BAD_STATUSES:
            return self._fail(spec, item, _bad_status_reason(endpoint))
        if now - started > spec.max_wake_minutes * 60:
            return self._fail(
                spec, item, f"the endpoint was not in service {spec.max_wake_minutes} minutes after the wake"
            )
        if endpoint.exists:
            # Creating (on time), or an old endpoint still Deleting: create once it is gone.
            return item.state
        last_try = item.create_attempted_at or started
        if now - last_try <= WAKE_GRACE_SECONDS:
            return item.state
        if item.create_attempts >= MAX_CREATE_ATTEMPTS:
            return self._fail(spec, item, f"no endpoint after {item.create_attempts} CreateEndpoint calls")
        return self._create_again(spec, item)

    def _create_again(self, spec: ModelSpec, item: StateItem) -> State:
        config_name = item.endpoint_config_name or spec.endpoint_config_name
        if not config_name:
            return self._fail(spec, item, "no endpoint configuration to create the endpoint from")
        if not self._store.count_create_attempt(item, now=self._clock()):
            return self._now_state(spec.name)
        self._logger.warning(
            "waking without an endpoint: creating it again",
            extra={"model": spec.name, "attempt": item.create_attempts + 1},
        )
        try:
            self._create_endpoint(spec, config_name)
        except ClientError as error:
            if already_exists(error) or error_code(error) in TRANSIENT_CODES:
                # Created after all, or unclear: the next run describes it and acts on its status.
                return item.state
            reason = f"CreateEndpoint failed: {error_code(error)}: {error_message(error)}"
            return self._fail(spec, item, reason)
        return item.state

    def _create_endpoint(self, spec: ModelSpec, config_name: str) -> None:
        """CreateEndpoint with the deployment's tags in the call itself (IAM requires the ownership tag)."""
        tags = self._settings.creation_tags()
        self._sagemaker.create_endpoint(
            EndpointName=spec.endpoint_name,
            EndpointConfigName=config_name,
            **({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}),
        )

    def _awake(self, spec: ModelSpec, item: StateItem, endpoint: EndpointStatus) -> State:
        if not endpoint.exists:
            self._logger.warning("awake but the endpoint is gone; now asleep", extra={"model": spec.name})
            return self._settle(self._move(item, to=State.ASLEEP), spec)
        if endpoint.status in BAD_STATUSES:
            return self._fail(spec, item, _bad_status_reason(endpoint))
        if endpoint.status in DELETING_STATUSES:
            return self._settle(self._move(item, to=State.SLEEPING), spec)
        # Creating or serving (InService, Updating, SystemUpdating, RollingBack, UpdateRollbackFailed).
        now = self._clock()
        if up_reasons(spec=spec, item=item, now=now):
            return item.state
        cutoff = idle_cutoff(now=now, idle_minutes=spec.idle_minutes)
        claim_at = self._clock()
        if window_reason(spec, claim_at):
            # The clock entered a keep-warm window (or its warm lead) since the read.
            return item.state
        item = self._release_expired_holds(item, now=claim_at)
        # The condition re-checks last_invoked_at, the lease and the job holds, so a request, a lease or
        # a job recorded since the read keeps it awake.
        sleeping = self._move(item, to=State.SLEEPING, idle_before=cutoff, unheld_at=claim_at)
        if sleeping is None:
            return self._now_state(spec.name)
        emit("Sleeps", model=spec.name)
        self._delete(spec, sleeping, idle_before=cutoff, unheld=True)
        return State.SLEEPING

    def _sleeping(self, spec: ModelSpec, item: StateItem, endpoint: EndpointStatus) -> State:
        if not endpoint.exists:
            return self._settle(self._move(item, to=State.ASLEEP), spec)
        if endpoint.status in DELETING_STATUSES:
            return item.state
        if endpoint.status in BAD_STATUSES:
            self._delete(spec, item)
            return item.state
        now = self._clock()
        cutoff = idle_cutoff(now=now, idle_minutes=spec.idle_minutes)
        reasons = up_reasons(spec=spec, item=item, now=now)
        if reasons:
            # Used, leased, queued for or inside a window since the move (the delete failed or has not
            # run yet): the endpoint is still there, so it serves again.
            self._logger.info(
                "sleeping but wanted again: back to awake", extra={"model": spec.name, "reasons": reasons}
            )
            return self._settle(self._move(item, to=State.AWAKE), spec)
        self._delete(spec, self._release_expired_holds(item, now=now), idle_before=cutoff, unheld=True)
        return item.state

    # -- actions -----------------------------------------------------------------------------------

    def _move(self, item: StateItem, *, to: State, **kwargs: Any) -> StateItem | None:
        """Try the conditional transition; None when another caller changed the state first."""
        moved = self._store.transition(item, to=to, now=self._clock(), **kwargs)
        if moved is None:
            self._logger.info("another caller changed the state first", extra={"model": item.model})
            return None
        changed = {"model": item.model, "from": item.state.value, "to": to.value}
        self._logger.info("state changed", extra=changed)
        return moved

    def _settle(self, moved: StateItem | None, spec: ModelSpec) -> State:
        return moved.state if moved is not None else self._now_state(spec.name)

    def _now_state(self, model: str) -> State:
        """The state a race's winner left: the loser reports it and acts on nothing."""
        return self._store.get(model).state

    def _delete(
        self, spec: ModelSpec, item: StateItem, *, idle_before: float | None = None, unheld: bool = False
    ) -> None:
        """Delete the endpoint if the item is still as read (and unused since ``idle_before``).

        ``unheld`` (the model goes down for being idle): also no keep-warm window at the claim's clock,
        no lease running then and no job holding it, re-checked by the claim's condition.
        """
        now = self._clock()
        if unheld and window_reason(spec, now):
            self._logger.info("a keep-warm window holds it now; not deleting", extra={"model": spec.name})
            return
        claimed = self._store.claim_delete(
            item, now=now, idle_before=idle_before, unheld_at=now if unheld else None
        )
        if not claimed:
            self._logger.info("state changed before the delete; not deleting", extra={"model": spec.name})
            return
        delete_endpoint(self._sagemaker, spec.endpoint_name)

    def _release_expired_holds(self, item: StateItem, *, now: float) -> StateItem:
        """Remove job holds past their deadline, so the claim's "no job holds it" can hold."""
        live = live_holds(item.job_holds, now=now)
        expired = tuple(hold for hold in item.job_holds if hold not in live)
        if not expired:
            return item
        self._logger.warning(
            "job holds expired without their jobs ending: released",
            extra={"model": item.model, "holds": list(expired)},
        )
        self._store.release_job_holds(item.model, expired)
        return replace(item, job_holds=live)

    def _fail(self, spec: ModelSpec, item: StateItem, reason: str) -> State:
        # The move itself records that a notice is owed: if its answer is lost, the next run finds the
        # model failed with the notice pending and sends it.
        failed = self._move(item, to=State.FAILED, failure_reason=reason, notice=True)
        if failed is None:
            return self._now_state(spec.name)
        # Report before deleting, so a delete that raises does not hold the notice back. A later run in
        # state failed retries the delete.
        self._send_notice(spec, failed)
        self._delete(spec, failed)
        return State.FAILED

    def _send_notice(self, spec: ModelSpec, item: StateItem) -> None:
        """Send the pending failure notice if this caller claims it: once per failure, whoever saw it."""
        if not self._store.claim_notice(item):
            return
        emit("Failures", model=spec.name)
        if not self._notify_failure(spec, item.notice_reason or "no reason recorded"):
            # Put it back: the next run sends it.
            self._store.release_notice(item)

    def _count_minutes_awake(self, spec: ModelSpec, item: StateItem, endpoint: EndpointStatus) -> None:
        """MinutesAwake (interfaces.md #3): the minutes since the previous run that saw the endpoint.

        SageMaker bills an endpoint until it is gone, Deleting included. The first sighting adds nothing,
        so a daily Sum undercounts by at most one check period per wake.
        """
        if not endpoint.exists:
            if item.observed_at is not None:
                self._store.forget_observation(spec.name)
            return
        now = self._clock()
        previous = self._store.observe(spec.name, now=now)
        if previous is not None:
            emit("MinutesAwake", model=spec.name, value=(now - previous) / 60, unit=MetricUnit.Count)

    def _notify_failure(self, spec: ModelSpec, reason: str) -> bool:
        """Publish the notice; False when SNS did not take it."""
        if self._settings.notify_topic_arn is None:
            return True
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
            # The state already says failed, with the reason; a failed publish must not undo that.
            self._logger.exception("could not publish the failure notice", extra={"model": spec.name})
            return False
        return True

    # -- ownership -----------------------------------------------------------------------------------

    def _tags(self, arn: str | None, *, created: str | None = None) -> dict[str, str] | None:
        """The endpoint's tags; None when it is gone. Cached per (ARN, creation time) when listed."""
        if arn is None:
            return {}
        key = (arn, created) if created is not None else None
        if key is not None and key in self._owners:
            owner = self._owners[key]
            return {} if owner is None else {DEPLOYMENT_TAG: owner}
        tags = endpoint_tags(self._sagemaker, arn)
        if tags is not None and key is not None:
            self._owners[key] = owner_of(tags)
        return tags

    def _report_unowned(self, name: str, owner: str | None, *, key: str, dimension: str) -> None:
        """An endpoint with this app's prefix that is not this deployment's: never touched.

        Untagged (nobody's by tag) it is reported; another deployment's is reported only where it takes
        one of this deployment's model names (otherwise it is simply that deployment's endpoint).
        """
        if owner is not None and dimension == APP_DIMENSION:
            self._logger.debug(
                "another deployment's endpoint: left alone", extra={"endpoint": name, "owner": owner}
            )
            return
        self._logger.warning(
            "an endpoint with this app's prefix is not this deployment's: reported, not touched",
            extra={"endpoint": name, "key": key, "owner": owner, "deployment": self._settings.deployment},
        )
        emit("UnownedEndpoints", model=dimension)

    # -- endpoints no model owns -------------------------------------------------------------------

    def _reconcile_untracked(self) -> dict[str, str]:
        """Adopt this deployment's endpoints that no model owns (e.g. of a model since removed).

        Nothing can invoke them (the API serves configured models only), so each is deleted once it has
        been watched for the longest ``idle_minutes`` plus the slack; its item goes when it is gone.
        Only endpoints carrying this deployment's tag are adopted (ListTags, once per endpoint per warm
        container); the others are reported or left alone (``_report_unowned``).
        """
        prefix = self._settings.endpoint_prefix or ""
        owned = {spec.endpoint_name for spec in self._settings.models.values()}
        idle = max((spec.idle_minutes for spec in self.watched), default=15)
        results: dict[str, str] = {}
        for listed in list_endpoints(self._sagemaker, prefix):
            if listed.name in owned:
                continue
            key = f"{UNTRACKED}{listed.name}"
            try:
                results[key] = self._untracked(listed, key, idle_minutes=idle)
            except Exception:  # one endpoint's error never stops the others
                self._logger.exception(
                    "reconciling an untracked endpoint failed", extra={"endpoint": listed.name, "key": key}
                )
                emit("ReconcilerErrors", model=APP_DIMENSION)
                results[key] = ERROR
        return results

    def _untracked(self, listed: ListedEndpoint, key: str, *, idle_minutes: int) -> str:
        name = listed.name
        # Only this deployment's endpoints are adopted (the tags are cached per warm container, so
        # another deployment's endpoint costs no call at all on later runs, not even a read).
        tags = self._tags(listed.arn, created=listed.created)
        if tags is None:
            return State.ASLEEP.value  # gone since the listing
        if not self._settings.owns(tags):
            self._report_unowned(name, owner_of(tags), key=key, dimension=APP_DIMENSION)
            return IGNORED
        item = self._store.get(key)
        endpoint = describe_endpoint(self._sagemaker, name)
        if needs_repair(item):
            repaired = self._repair(key, item, endpoint)
            if repaired is None:
                return self._store.get(key).state.value
            item = repaired
        if not endpoint.exists or endpoint.status in DELETING_STATUSES:
            if item.stored_state is not None:
                self._store.delete_item(key, item)
            return State.ASLEEP.value
        if item.stored_state is None:
            emit("OrphansAdopted", model=APP_DIMENSION)
            self._logger.warning("an endpoint no model owns: adopted", extra={"endpoint": name})
            return self._settle_untracked(self._move(item, to=State.AWAKE), key).value
        now = self._clock()
        watched_since = item.state_changed_at or now
        if now - watched_since <= idle_minutes * 60 + coalescing_seconds(idle_minutes):
            return item.state.value
        if self._store.claim_delete(item, now=now):
            delete_endpoint(self._sagemaker, name)
            # Its item goes with it: if the name shows up again, it is adopted again.
            self._store.delete_item(key, item)
        return State.SLEEPING.value

    def _settle_untracked(self, moved: StateItem | None, key: str) -> State:
        return moved.state if moved is not None else self._store.get(key).state
