"""RFC 7240 ``Prefer`` on predict: ``wait=N`` holds a request up to N seconds for a waking model.

Without it a predict on a sleeping model answers 503 with Retry-After at once; with it the invoker
wakes the model and retries the endpoint about once a second until it answers or the wait ends (then
the same 503). The hold never runs into the invoker's own timeout: it stops while ``RESERVE_SECONDS``
of the Lambda's time remain, for the prediction itself and the answer. Other preferences are ignored,
as RFC 7240 allows (``respond-async`` is not supported: such a request is answered synchronously).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from invoker.api_error import ApiError
from invoker.endpoint_call import EndpointDown

MAX_WAIT_SECONDS = 25
RESERVE_SECONDS = 8.0
POLL_SECONDS = 1.0
WAIT = re.compile(r"^\s*wait\s*=\s*\"?([^\";\s]*)\"?\s*$", re.IGNORECASE)

T = TypeVar("T")


def preferred_wait(headers: Mapping[str, str] | None) -> int | None:
    """Seconds from ``Prefer: wait=N`` (capped at 25), None without it; 400 naming a bad value."""
    prefer = next((value for key, value in (headers or {}).items() if key.lower() == "prefer"), None)
    if not prefer:
        return None
    for preference in prefer.split(","):
        found = WAIT.match(preference.split(";")[0])
        if found is None:
            continue
        if not found[1].isdigit():
            raise ApiError(
                400,
                "invalid_input",
                f"Prefer: wait={found[1]} is not a whole number of seconds (0 to {MAX_WAIT_SECONDS})",
            )
        return min(int(found[1]), MAX_WAIT_SECONDS)
    return None


def hold(
    call: Callable[[], T],
    *,
    seconds: int,
    remaining_ms: Callable[[], int] | None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T | None:
    """Retry ``call`` while the endpoint is down, for up to ``seconds``; None when the time runs out."""
    deadline = monotonic() + seconds
    if remaining_ms is not None:
        deadline = min(deadline, monotonic() + remaining_ms() / 1000 - RESERVE_SECONDS)
    while monotonic() + POLL_SECONDS <= deadline:
        sleep(POLL_SECONDS)
        try:
            return call()
        except EndpointDown:
            continue
    return None
