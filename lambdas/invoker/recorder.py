"""Records invocations in the state table, coalesced per warm container.

See ``seqserve_common.lifecycle`` for the interval and the slack it gives invariant 3.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from seqserve_common.lifecycle import coalescing_seconds
from seqserve_common.metrics import emit
from seqserve_common.settings import ModelSpec
from seqserve_common.state import StateStore


class InvocationRecorder:
    """Writes ``last_invoked_at`` when this container's last write is a coalescing interval old."""

    def __init__(self, *, store: StateStore, clock: Callable[[], float], logger: Logger):
        self._store = store
        self._clock = clock
        self._logger = logger
        self._next_write: dict[str, float] = {}

    def record(self, spec: ModelSpec) -> None:
        """Never raises: a failed write is logged and counted, and the next request retries it."""
        now = self._clock()
        if now < self._next_write.get(spec.name, float("-inf")):
            return
        try:
            self._store.record_invocation(spec.name, at=now)
        except (ClientError, BotoCoreError) as error:
            self._logger.warning(
                "could not record the invocation", extra={"model": spec.name, "error": str(error)}
            )
            emit("InvocationRecordFailures", model=spec.name)
            return
        self._next_write[spec.name] = now + coalescing_seconds(spec.idle_minutes)
