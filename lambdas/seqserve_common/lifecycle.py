"""Endpoint lifecycle states and the write-coalescing interval that invariant 3 depends on.

Write coalescing: a warm invoker container records a model's ``last_invoked_at`` at most once per
``coalescing_seconds(idle_minutes)`` (idle_seconds / 15, clamped to 5..60 s: 60 s for the default 15
idle minutes). Between two writes the stored value lags the container's latest request by less than
that interval.

Slack for invariant 3: the idle checker deletes an endpoint only when the stored ``last_invoked_at``
(or, if never invoked, the time it became awake) is older than ``idle_minutes`` *plus* the coalescing
interval. So an endpoint that served a request within ``idle_minutes`` is never deleted; the price is
that an idle endpoint lives up to one coalescing interval (and one check period) longer. This holds
while the writes succeed: a failed write never fails the prediction (invariant 4), and the next
request of that container retries it instead of waiting out the interval.
"""

from __future__ import annotations

from enum import StrEnum

MIN_COALESCING_SECONDS = 5.0
MAX_COALESCING_SECONDS = 60.0


class State(StrEnum):
    ASLEEP = "asleep"
    WAKING = "waking"
    AWAKE = "awake"
    SLEEPING = "sleeping"
    FAILED = "failed"


def coalescing_seconds(idle_minutes: int) -> float:
    return min(MAX_COALESCING_SECONDS, max(MIN_COALESCING_SECONDS, idle_minutes * 60 / 15))


def idle_cutoff(*, now: float, idle_minutes: int) -> float:
    """Epoch seconds before which the last recorded use makes an awake endpoint idle."""
    return now - idle_minutes * 60 - coalescing_seconds(idle_minutes)


# Wake-time estimate (interfaces.md #2): the median of the recent measured wakes, bounded, or a default
# before the first is measured. The default is a planning figure, not a measurement.
DEFAULT_WAKE_SECONDS = 300.0
MIN_WAKE_ESTIMATE = 30.0
MAX_WAKE_ESTIMATE = 1800.0
# Retry-After for a waking model: the time left until the estimate, clamped so clients neither spin
# nor wait out a wake that finished early.
MIN_RETRY_AFTER = 5
MAX_RETRY_AFTER = 60


def estimated_wake_seconds(item: object) -> float:
    samples = sorted(getattr(item, "wake_seconds", ()) or ())
    if not samples:
        return DEFAULT_WAKE_SECONDS
    middle = len(samples) // 2
    median = samples[middle] if len(samples) % 2 else (samples[middle - 1] + samples[middle]) / 2
    return min(MAX_WAKE_ESTIMATE, max(MIN_WAKE_ESTIMATE, median))


def estimated_ready_at(item: object, *, now: float) -> float | None:
    """When a waking model should be InService; None unless it is waking."""
    if getattr(item, "state", None) is not State.WAKING:
        return None
    started = getattr(item, "state_changed_at", None) or now
    return max(now, started + estimated_wake_seconds(item))


def retry_after_seconds(item: object, *, now: float) -> int:
    ready = estimated_ready_at(item, now=now)
    remaining = (ready - now) if ready is not None else estimated_wake_seconds(item)
    return int(min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, round(remaining))))
