"""Records invocations in the state table, coalesced per warm container.

See ``seqserve_common.lifecycle`` for the interval and the slack it gives invariant 3.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger
from seqserve_common.lifecycle import coalescing_seconds
from seqserve_common.metrics import emit
from seqserve_common.settings import ModelSpec
from seqserve_common.state import StateStore


class InvocationRecorder:
    """Writes ``last_invoked_at`` when this container's last write is a coalescing interval old.

    The invoker records when a request starts and again when it is answered (200, 4xx, 429, 502,
    504), each coalesced: the stored value lags this container's latest start or answer by less than
    one coalescing interval, which is the slack of invariant 3.
    """

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
        except Exception as error:  # invariant 4: recording never fails the prediction
            self._logger.warning(
                "could not record the invocation", extra={"model": spec.name, "error": str(error)}
            )
            emit("InvocationRecordFailures", model=spec.name)
            return
        self._next_write[spec.name] = now + coalescing_seconds(spec.idle_minutes)
