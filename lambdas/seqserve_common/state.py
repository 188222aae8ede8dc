"""The state table: one item per model, changed only by conditional writes.

Every transition is conditioned on the state and ``state_changed_at`` the caller read, so when two
callers race (concurrent wakes, overlapping idle checks) exactly one of them wins and the others learn
they lost instead of overwriting each other. docs/internals.md lists the item's attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from seqserve_common.lifecycle import State

CONDITION_FAILED = "ConditionalCheckFailedException"
# The string set of open jobs' holds on a model's item (seqserve_common.jobs writes it).
JOB_HOLDS = "open_jobs"
# The newest wake durations kept on the item (interfaces.md #2).
MAX_WAKE_SAMPLES = 10


@dataclass(frozen=True, kw_only=True)
class StateItem:
    model: str
    # None when the item or its state attribute is missing; it reads as asleep.
    stored_state: State | None = None
    last_invoked_at: float | None = None
    state_changed_at: float | None = None
    endpoint_config_name: str | None = None
    failure_reason: str | None = None
    # Seconds each recent wake took from "waking" to InService, newest last.
    wake_seconds: tuple[float, ...] = ()
    # CreateEndpoint calls made for the current wake, and when the latest was made.
    create_attempts: int = 0
    create_attempted_at: float | None = None
    # When the reconciler last saw this model's endpoint exist (the MinutesAwake metric counts from it).
    observed_at: float | None = None
    # Issue 13: epoch until which an operator's lease holds the model up (POST /wake keep_warm_minutes).
    lease_until: float | None = None
    # One hold per open queued prediction, "<deadline>#<job id>" (seqserve_common.jobs): each expires on
    # its own, so a job whose end was never written cannot keep the model up past its deadline.
    job_holds: tuple[str, ...] = ()
    # A failure notice still to be sent: when the move to failed that owes it was made, and its reason.
    # Written with that move; other moves leave it (a wake retried at once must not drop the notice);
    # ``claim_notice`` takes it.
    notice_pending: float | None = None
    notice_reason: str | None = None
    # The attributes that did not parse (an unknown state, a wrong type); the reconciler repairs them.
    problems: tuple[str, ...] = field(default=(), compare=False)
    # The item as stored: conditions compare against these exact values, never a re-rendered number.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def state(self) -> State:
        return self.stored_state or State.ASLEEP

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "last_invoked_at": self.last_invoked_at,
            "state_changed_at": self.state_changed_at,
            "failure_reason": self.failure_reason,
        }


def _epoch(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3))}


STATES = frozenset(state.value for state in State)


class _Reader:
    """Reads one item's attributes; one that is missing is None, one of the wrong shape is a problem."""

    def __init__(self, item: Mapping[str, Any]) -> None:
        self.item = item
        self.problems: list[str] = []

    def number(self, key: str) -> float | None:
        if key not in self.item:
            return None
        try:
            value = float(self.item[key]["N"])
        except (KeyError, TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            self.problems.append(key)
            return None
        return value

    def string(self, key: str) -> str | None:
        if key not in self.item:
            return None
        value = self.item[key].get("S") if isinstance(self.item[key], Mapping) else None
        if not isinstance(value, str):
            self.problems.append(key)
        return value if isinstance(value, str) else None

    def numbers(self, key: str) -> tuple[float, ...]:
        if key not in self.item:
            return ()
        try:
            values = tuple(float(v["N"]) for v in self.item[key]["L"])
        except (KeyError, TypeError, ValueError):
            self.problems.append(key)
            return ()
        return values


def parse_item(model: str, item: Mapping[str, Any]) -> StateItem:
    """The item as a StateItem; what does not parse is left out and named in ``problems``."""
    read = _Reader(item)
    raw_state = read.string("state")
    if raw_state is not None and raw_state not in STATES:
        read.problems.append("state")
    return StateItem(
        model=model,
        stored_state=State(raw_state) if raw_state in STATES else None,
        last_invoked_at=read.number("last_invoked_at"),
        state_changed_at=read.number("state_changed_at"),
        endpoint_config_name=read.string("endpoint_config_name"),
        failure_reason=read.string("failure_reason"),
        wake_seconds=read.numbers("wake_seconds"),
        create_attempts=int(read.number("create_attempts") or 0),
        create_attempted_at=read.number("create_attempted_at"),
        observed_at=read.number("observed_at"),
        lease_until=read.number("lease_until"),
        job_holds=tuple(sorted(item.get(JOB_HOLDS, {}).get("SS", []))),
        notice_pending=read.number("notice_pending"),
        notice_reason=read.string("notice_reason"),
        problems=tuple(dict.fromkeys(read.problems)),
        raw=item,
    )


class _Condition:
    """A condition expression built clause by clause, with its placeholder values."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.values: dict[str, Any] = {}

    def same_state(self, seen: StateItem) -> _Condition:
        if seen.stored_state is None:
            self.clauses.append("attribute_not_exists(#state)")
            return self
        self.values[":from"] = {"S": seen.stored_state.value}
        self.clauses.append("#state = :from")
        if seen.state_changed_at is None:
            self.clauses.append("attribute_not_exists(state_changed_at)")
        else:
            # The stored value itself: one written with more than 3 decimals by someone else still matches.
            self.values[":changed"] = seen.raw.get("state_changed_at") or _epoch(seen.state_changed_at)
            self.clauses.append("state_changed_at = :changed")
        return self

    def as_stored(self, seen: StateItem) -> _Condition:
        """The item's state and ``state_changed_at`` exactly as read, whatever their shape."""
        for index, (attribute, name) in enumerate(
            (("state", "#state"), ("state_changed_at", "state_changed_at"))
        ):
            if attribute in seen.raw:
                self.values[f":stored{index}"] = seen.raw[attribute]
                self.clauses.append(f"{name} = :stored{index}")
            else:
                self.clauses.append(f"attribute_not_exists({name})")
        return self

    def unused_since(self, idle_before: float | None) -> _Condition:
        if idle_before is not None:
            self.values[":idle_before"] = _epoch(idle_before)
            self.clauses.append("(attribute_not_exists(last_invoked_at) OR last_invoked_at < :idle_before)")
        return self

    def unheld(self, at: float | None) -> _Condition:
        """No lease running at ``at`` and no job holding the model: what the read said, re-checked in
        the write, so a lease or job that arrives after the read makes the write fail."""
        if at is not None:
            # Typed as the reader reads them: a lease that is not a number, or holds that are not a string
            # set (corrupt attributes), hold nothing, so they cannot keep a model up forever.
            self.values.update({":unheld_at": _epoch(at), ":number": {"S": "N"}, ":string_set": {"S": "SS"}})
            self.clauses.append("(NOT attribute_type(lease_until, :number) OR lease_until <= :unheld_at)")
            self.clauses.append(f"NOT attribute_type({JOB_HOLDS}, :string_set)")
        return self

    @property
    def expression(self) -> str:
        return " AND ".join(self.clauses)


class StateStore:
    def __init__(
        self,
        *,
        dynamodb: Any,
        table: str,
        on_transition: Callable[[StateItem, StateItem], None] | None = None,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        # Told of every transition that won its condition (issue 13's usage history); must not raise.
        self._on_transition = on_transition

    def get(self, model: str) -> StateItem:
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"model": {"S": model}}, ConsistentRead=True
        ).get("Item", {})
        return parse_item(model, item)

    def _update(self, model: str, *, update: str, condition: _Condition, values: dict[str, Any]) -> bool:
        """One conditional UpdateItem; False when the condition failed (another caller won)."""
        names = {"#state": "state"} if "#state" in update or "#state" in condition.expression else None
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"model": {"S": model}},
            "UpdateExpression": update,
        }
        if condition.values or values:
            request["ExpressionAttributeValues"] = {**condition.values, **values}
        if condition.clauses:
            request["ConditionExpression"] = condition.expression
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._dynamodb.update_item(**request)
        except ClientError as error:
            if error.response["Error"]["Code"] == CONDITION_FAILED:
                return False
            raise
        return True

    def transition(
        self,
        seen: StateItem,
        *,
        to: State,
        now: float,
        failure_reason: str | None = None,
        idle_before: float | None = None,
        unheld_at: float | None = None,
        wake_seconds: float | None = None,
        create_attempted: bool = False,
        notice: bool = False,
    ) -> StateItem | None:
        """Move ``seen.model`` from the state in ``seen`` to ``to``; None if someone moved it first.

        ``idle_before`` adds the idle rule to the condition: no invocation recorded at or after it.
        ``unheld_at`` adds: no lease running at that time and no job hold on the item (``_Condition.unheld``).
        ``wake_seconds`` appends a measured wake duration; ``create_attempted`` starts a wake's count
        of CreateEndpoint calls at one (any other transition resets it to zero). ``notice``: the move
        to failed owes a failure notice, recorded in the same write (``notice_pending`` and
        ``notice_reason``) so that a lost answer cannot lose it; whoever claims it sends it
        (``claim_notice``). Other moves leave a pending notice as it is.
        """
        condition = _Condition().same_state(seen).unused_since(idle_before).unheld(unheld_at)
        values: dict[str, Any] = {
            ":to": {"S": to.value},
            ":now": _epoch(now),
            ":attempts": {"N": "1" if create_attempted else "0"},
        }
        sets = ["#state = :to", "state_changed_at = :now", "create_attempts = :attempts"]
        removes = []
        if notice:
            values[":notice_reason"] = {"S": failure_reason or "no reason recorded"}
            sets += ["notice_pending = :now", "notice_reason = :notice_reason"]
        if create_attempted:
            sets.append("create_attempted_at = :now")
        else:
            removes.append("create_attempted_at")
        if failure_reason is None:
            removes.append("failure_reason")
        else:
            values[":reason"] = {"S": failure_reason}
            sets.append("failure_reason = :reason")
        samples = seen.wake_seconds
        if wake_seconds is not None:
            samples = (*seen.wake_seconds, round(wake_seconds, 3))[-MAX_WAKE_SAMPLES:]
            values[":samples"] = {"L": [{"N": repr(s)} for s in samples]}
            sets.append("wake_seconds = :samples")
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        if not self._update(seen.model, update=update, condition=condition, values=values):
            return None
        moved = StateItem(
            model=seen.model,
            stored_state=to,
            last_invoked_at=seen.last_invoked_at,
            state_changed_at=round(now, 3),
            endpoint_config_name=seen.endpoint_config_name,
            failure_reason=failure_reason,
            wake_seconds=samples,
            create_attempts=1 if create_attempted else 0,
            create_attempted_at=round(now, 3) if create_attempted else None,
            observed_at=seen.observed_at,
            lease_until=seen.lease_until,
            job_holds=seen.job_holds,
            notice_pending=round(now, 3) if notice else seen.notice_pending,
            notice_reason=(failure_reason or "no reason recorded") if notice else seen.notice_reason,
        )
        if self._on_transition is not None:
            self._on_transition(seen, moved)
        return moved

    def claim_notice(self, seen: StateItem) -> bool:
        """Take the failure notice pending in ``seen``; True for exactly one caller.

        Conditional on that notice (not on the state): a move since, such as a wake retried at once,
        does not cancel a notice still owed.
        """
        condition = _Condition()
        condition.values[":pending"] = seen.raw.get("notice_pending") or _epoch(seen.notice_pending or 0.0)
        condition.clauses.append("notice_pending = :pending")
        return self._update(
            seen.model, update="REMOVE notice_pending, notice_reason", condition=condition, values={}
        )

    def release_notice(self, seen: StateItem) -> bool:
        """Put a claimed notice back (its publish failed) unless a newer one is pending, for the next run."""
        return self._update(
            seen.model,
            update="SET notice_pending = :pending, notice_reason = :reason",
            condition=_with(["attribute_not_exists(notice_pending)"]),
            values={
                ":pending": _epoch(seen.notice_pending or 0.0),
                ":reason": {"S": seen.notice_reason or "no reason recorded"},
            },
        )

    def repair(self, seen: StateItem, *, to: State, now: float, in_use: bool) -> StateItem | None:
        """Rewrite an item that did not parse: ``to`` from ``now``, the attributes in ``seen.problems``
        dropped, and ``last_invoked_at`` set to ``now`` when it was one of them and ``in_use`` (its
        endpoint exists, so its last use is unknown: the idle timer restarts rather than deleting).
        Conditional on the state and ``state_changed_at`` as stored; None if the item changed since.
        """
        condition = _Condition().as_stored(seen)
        values: dict[str, Any] = {":to": {"S": to.value}, ":now": _epoch(now), ":zero": {"N": "0"}}
        sets = ["#state = :to", "state_changed_at = :now", "create_attempts = :zero"]
        removes = ["create_attempted_at"]
        for attribute in seen.problems:
            if attribute in ("state", "state_changed_at", "create_attempts"):
                continue
            if attribute == "last_invoked_at" and in_use:
                sets.append("last_invoked_at = :now")
            elif attribute not in removes:
                removes.append(attribute)
        update = "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes)
        if not self._update(seen.model, update=update, condition=condition, values=values):
            return None
        return self.get(seen.model)

    def count_create_attempt(self, seen: StateItem, *, now: float) -> bool:
        """Claim one more CreateEndpoint call for the wake in ``seen``; False if the item moved on."""
        condition = _Condition().same_state(seen)
        condition.values[":seen_attempts"] = {"N": str(seen.create_attempts)}
        condition.clauses.append(
            "(attribute_not_exists(create_attempts) OR create_attempts = :seen_attempts)"
        )
        return self._update(
            seen.model,
            update="SET create_attempts = :next, create_attempted_at = :now",
            condition=condition,
            values={":next": {"N": str(seen.create_attempts + 1)}, ":now": _epoch(now)},
        )

    def claim_delete(
        self,
        seen: StateItem,
        *,
        now: float,
        idle_before: float | None = None,
        unheld_at: float | None = None,
    ) -> bool:
        """The write before a DeleteEndpoint: True only if the item is still as read (and still idle).

        A wake, a request recorded since the read, another run's move, or (with ``unheld_at``) a lease
        or a queued job that arrived since the read makes it False, so a delete never acts on a stale read.
        """
        condition = _Condition().same_state(seen).unused_since(idle_before).unheld(unheld_at)
        return self._update(
            seen.model,
            update="SET delete_requested_at = :now",
            condition=condition,
            values={":now": _epoch(now)},
        )

    def release_job_holds(self, model: str, holds: tuple[str, ...]) -> None:
        """Remove these holds (expired ones: their jobs' ends were never written); an absent one is no-op."""
        if holds:
            self._update(
                model,
                update=f"DELETE {JOB_HOLDS} :holds",
                condition=_Condition(),
                values={":holds": {"SS": list(holds)}},
            )

    def observe(self, model: str, *, now: float) -> float | None:
        """Mark the endpoint seen at ``now``; the previous mark, or None (first sight, or a later mark).

        Conditional on moving forward, so a duplicate run never counts the same minutes twice.
        """
        try:
            answer = self._dynamodb.update_item(
                TableName=self._table,
                Key={"model": {"S": model}},
                UpdateExpression="SET observed_at = :now",
                ConditionExpression="attribute_not_exists(observed_at) OR observed_at < :now",
                ExpressionAttributeValues={":now": _epoch(now)},
                ReturnValues="UPDATED_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == CONDITION_FAILED:
                return None
            raise
        return _Reader(answer.get("Attributes", {})).number("observed_at")

    def forget_observation(self, model: str) -> None:
        self._update(
            model, update="REMOVE observed_at", condition=_with(["attribute_exists(observed_at)"]), values={}
        )

    def record_invocation(self, model: str, *, at: float) -> bool:
        """Move ``last_invoked_at`` forward to ``at``; False if a later time is already stored."""
        return self._update(
            model,
            update="SET last_invoked_at = :at",
            condition=_with(["attribute_not_exists(last_invoked_at) OR last_invoked_at < :at"]),
            values={":at": _epoch(at)},
        )

    def delete_item(self, model: str, seen: StateItem) -> bool:
        """Remove an item (an untracked endpoint's, once its endpoint is gone) if it is still as read."""
        condition = _Condition().same_state(seen)
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key={"model": {"S": model}},
                ConditionExpression=condition.expression,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=condition.values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == CONDITION_FAILED:
                return False
            raise
        return True


def _with(clauses: list[str]) -> _Condition:
    condition = _Condition()
    condition.clauses.extend(clauses)
    return condition
