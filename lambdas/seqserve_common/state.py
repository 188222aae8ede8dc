"""The state table: one item per model, changed only by conditional writes.

Every transition is conditioned on the state and ``state_changed_at`` the caller read, so when two
callers race (concurrent wakes, overlapping idle checks) exactly one of them wins and the others learn
they lost instead of overwriting each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from seqserve_common.lifecycle import State

CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True, kw_only=True)
class StateItem:
    model: str
    # None when the item or its state attribute is missing; it reads as asleep.
    stored_state: State | None = None
    last_invoked_at: float | None = None
    state_changed_at: float | None = None
    endpoint_config_name: str | None = None
    failure_reason: str | None = None
    # Issue 13: epoch until which an operator's lease holds the model up (POST /wake keep_warm_minutes).
    lease_until: float | None = None

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


def _number(item: Mapping[str, Any], key: str) -> float | None:
    return float(item[key]["N"]) if key in item else None


def _string(item: Mapping[str, Any], key: str) -> str | None:
    return item[key]["S"] if key in item else None


def _epoch(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3))}


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
        raw_state = _string(item, "state")
        return StateItem(
            model=model,
            stored_state=State(raw_state) if raw_state in State.__members__.values() else None,
            last_invoked_at=_number(item, "last_invoked_at"),
            state_changed_at=_number(item, "state_changed_at"),
            endpoint_config_name=_string(item, "endpoint_config_name"),
            failure_reason=_string(item, "failure_reason"),
            lease_until=_number(item, "lease_until"),
        )

    def transition(
        self,
        seen: StateItem,
        *,
        to: State,
        now: float,
        failure_reason: str | None = None,
        idle_before: float | None = None,
    ) -> StateItem | None:
        """Move ``seen.model`` from the state in ``seen`` to ``to``; None if someone moved it first.

        ``idle_before`` adds the idle rule to the condition: no invocation recorded at or after it.
        """
        names = {"#state": "state"}
        values: dict[str, Any] = {":to": {"S": to.value}, ":now": _epoch(now)}
        if seen.stored_state is None:
            conditions = ["attribute_not_exists(#state)"]
        else:
            values[":from"] = {"S": seen.stored_state.value}
            conditions = ["#state = :from"]
            if seen.state_changed_at is None:
                conditions.append("attribute_not_exists(state_changed_at)")
            else:
                values[":changed"] = _epoch(seen.state_changed_at)
                conditions.append("state_changed_at = :changed")
        if idle_before is not None:
            values[":idle_before"] = _epoch(idle_before)
            conditions.append("(attribute_not_exists(last_invoked_at) OR last_invoked_at < :idle_before)")
        update = "SET #state = :to, state_changed_at = :now"
        if failure_reason is None:
            update += " REMOVE failure_reason"
        else:
            values[":reason"] = {"S": failure_reason}
            update += ", failure_reason = :reason"
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"model": {"S": seen.model}},
                UpdateExpression=update,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == CONDITION_FAILED:
                return None
            raise
        moved = StateItem(
            model=seen.model,
            stored_state=to,
            last_invoked_at=seen.last_invoked_at,
            state_changed_at=round(now, 3),
            endpoint_config_name=seen.endpoint_config_name,
            failure_reason=failure_reason,
            lease_until=seen.lease_until,
        )
        if self._on_transition is not None:
            self._on_transition(seen, moved)
        return moved

    def record_invocation(self, model: str, *, at: float) -> bool:
        """Move ``last_invoked_at`` forward to ``at``; False if a later time is already stored."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"model": {"S": model}},
                UpdateExpression="SET last_invoked_at = :at",
                ConditionExpression="attribute_not_exists(last_invoked_at) OR last_invoked_at < :at",
                ExpressionAttributeValues={":at": _epoch(at)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == CONDITION_FAILED:
                return False
            raise
        return True
