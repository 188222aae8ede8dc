"""The usage history table: every state transition (with each wake's duration) and per-day request counts.

One table, partition key ``model`` (S), sort key ``at`` (S), items expiring through DynamoDB TTL on
``expires_at`` (N) after ``RETENTION_DAYS``:
- ``t#<epoch, zero-padded>``: a transition ``from`` -> ``to`` at ``epoch``; a ``waking -> awake`` one
  carries ``wake_seconds``.
- ``d#<YYYY-MM-DD>`` (UTC day): ``requests``, the predictions that reached the endpoint that day, added
  by each invoker container coalesced (``count_request``), not one write per prediction.
A table of its own rather than items in the state table: the reconciler reads every state item on every
run, and history would make that a query over a growing partition; TTL keeps this one bounded.

Writing history never fails the caller: a lost record costs a line in a usage report, not a prediction
or a lifecycle step. Failures are logged and counted (``HistoryWriteFailures``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from seqserve_common.lifecycle import State
from seqserve_common.metrics import emit
from seqserve_common.state import StateItem

RETENTION_DAYS = 93
TRANSITION = "t#"
DAY = "d#"


@dataclass(frozen=True, kw_only=True)
class Transition:
    at: float
    from_state: State
    to_state: State
    wake_seconds: float | None = None


def transition_key(at: float) -> str:
    return f"{TRANSITION}{at:017.3f}"


def day_key(at: float) -> str:
    return DAY + datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


class History:
    def __init__(self, *, dynamodb: Any, table: str | None, logger: Logger) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._logger = logger
        # Predictions counted but not yet written, by (model, day key); when each model's next write is due.
        self._pending: dict[tuple[str, str], int] = {}
        self._next_flush: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return self._table is not None

    def _expires(self, at: float) -> dict[str, str]:
        return {"N": str(int(at) + RETENTION_DAYS * 86400)}

    def record_transition(self, seen: StateItem, moved: StateItem) -> None:
        """StateStore's ``on_transition`` hook: one item per transition that won its condition."""
        if self._table is None or moved.state_changed_at is None:
            return
        at = moved.state_changed_at
        item = {
            "model": {"S": moved.model},
            "at": {"S": transition_key(at)},
            "from": {"S": seen.state.value},
            "to": {"S": moved.state.value},
            "expires_at": self._expires(at),
        }
        if seen.state is State.WAKING and moved.state is State.AWAKE and seen.state_changed_at is not None:
            item["wake_seconds"] = {"N": repr(round(at - seen.state_changed_at, 3))}
        self._write(moved.model, lambda: self._dynamodb.put_item(TableName=self._table, Item=item))

    def count_request(self, model: str, *, at: float, every_seconds: float) -> None:
        """Count one prediction of ``model`` answered at ``at``, in this container's memory.

        The counts reach the table coalesced, as ``last_invoked_at`` does: the first count at once, then
        at most one write per model and UTC day every ``every_seconds`` (``ADD requests`` by the number
        counted since the last write). A failed write keeps its counts for the next one. What a container
        counted in its last interval is written by its next prediction or usage read; a container Lambda
        retires before either loses those (at most ``every_seconds`` of its requests).
        """
        if self._table is None:
            return
        key = (model, day_key(at))
        self._pending[key] = self._pending.get(key, 0) + 1
        if at >= self._next_flush.get(model, float("-inf")) and self.flush_requests(model, at=at):
            self._next_flush[model] = at + every_seconds

    def flush_requests(self, model: str, *, at: float) -> bool:
        """Write the counts this container holds for ``model``; False if a write failed (they are kept)."""
        written = True
        for key in [key for key in self._pending if key[0] == model]:
            count = self._pending[key]
            ok = self._write(
                model,
                lambda day=key[1], count=count: self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"model": {"S": model}, "at": {"S": day}},
                    UpdateExpression="ADD requests :count SET expires_at = :expires",
                    ExpressionAttributeValues={":count": {"N": str(count)}, ":expires": self._expires(at)},
                ),
            )
            if ok:
                del self._pending[key]
            written = written and ok
        return written

    def _write(self, model: str, write: Callable[[], Any]) -> bool:
        try:
            write()
        except (ClientError, BotoCoreError) as error:
            self._logger.warning("could not write usage history", extra={"model": model, "error": str(error)})
            emit("HistoryWriteFailures", model=model)
            return False
        return True

    def read(self, model: str, *, since: float) -> tuple[list[Transition], dict[str, int]]:
        """Transitions from ``since`` on, oldest first, and request counts by UTC day (YYYY-MM-DD)."""
        if self._table is None:
            return [], {}
        transitions: list[Transition] = []
        requests: dict[str, int] = {}
        for key_range, collect in (
            ((transition_key(since), TRANSITION + "~"), "t"),
            ((day_key(since), DAY + "~"), "d"),
        ):
            pages = self._dynamodb.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="#model = :model AND #at BETWEEN :low AND :high",
                ExpressionAttributeNames={"#model": "model", "#at": "at"},
                ExpressionAttributeValues={
                    ":model": {"S": model},
                    ":low": {"S": key_range[0]},
                    ":high": {"S": key_range[1]},
                },
                ConsistentRead=True,
            )
            for page in pages:
                for item in page.get("Items", []):
                    if collect == "t":
                        transitions.append(_transition(item))
                    else:
                        requests[item["at"]["S"][len(DAY) :]] = int(item.get("requests", {}).get("N", "0"))
        return transitions, requests


def _transition(item: dict[str, Any]) -> Transition:
    wake = item.get("wake_seconds")
    return Transition(
        at=float(item["at"]["S"][len(TRANSITION) :]),
        from_state=State(item["from"]["S"]),
        to_state=State(item["to"]["S"]),
        wake_seconds=float(wake["N"]) if wake else None,
    )
