"""Why a model must be up, and when that next changes: pure functions of the spec, the state item and now.

The reasons (DESIGN.md, endpoint lifecycle; interfaces.md #1):
- ``traffic``: used within ``idle_minutes`` plus the write-coalescing slack (``lifecycle``); coming up
  (waking or awake) counts as a use, so a model woken on purpose is not put down at once.
- ``window``: a keep-warm window holds it, counting ``warm_lead_minutes`` before each start.
- ``lease``: an operator's lease (``lease_until``) has not run out.
``desired.up_reasons`` lists them; the reconciler puts a model down only when the list is empty, and
wakes an asleep one when ``should_wake`` names a reason (``traffic`` never wakes: a request does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from seqserve_common.jobs import live_holds
from seqserve_common.keep_warm import active, held_until, next_start
from seqserve_common.lifecycle import State, coalescing_seconds
from seqserve_common.settings import ModelSpec
from seqserve_common.state import StateItem

UP_STATES = frozenset({State.WAKING, State.AWAKE})
# next_down_at follows reasons that hand over to each other (a lease ending inside a window); a few
# steps suffice, and the bound keeps a pathological config from looping.
MAX_CHAIN = 16


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def lead_seconds(spec: ModelSpec) -> float:
    return spec.warm_lead_minutes * 60.0


def traffic_until(spec: ModelSpec, item: StateItem) -> float | None:
    """When the last use stops holding the model up (idle_minutes + slack after it)."""
    uses = [item.last_invoked_at or 0.0]
    if item.state in UP_STATES and item.state_changed_at is not None:
        uses.append(item.state_changed_at)
    last = max(uses)
    if last <= 0:
        return None
    return last + spec.idle_minutes * 60 + coalescing_seconds(spec.idle_minutes)


def traffic_reason(spec: ModelSpec, item: StateItem, now: float) -> str | None:
    until = traffic_until(spec, item)
    return "traffic" if until is not None and now < until else None


def window_reason(spec: ModelSpec, now: float) -> str | None:
    return "window" if active(spec.keep_warm, now, lead_seconds=lead_seconds(spec)) is not None else None


def lease_reason(item: StateItem, now: float) -> str | None:
    return "lease" if item.lease_until is not None and now < item.lease_until else None


def operator_reasons(spec: ModelSpec, item: StateItem, now: float) -> list[str]:
    """The reasons besides traffic, in a fixed order."""
    found = (window_reason(spec, now), lease_reason(item, now))
    return [reason for reason in found if reason is not None]


def should_wake(spec: ModelSpec, item: StateItem, now: float) -> str | None:
    """Why the reconciler must wake this asleep model now, or None.

    Only ``asleep`` is woken (a window or a lease; ``traffic`` never wakes, a request does):
    ``sleeping`` finishes its delete first (the next run wakes it), and a ``failed`` model waits for an
    explicit wake, so a failing endpoint is not recreated in a loop.
    """
    if not spec.on_demand or item.state is not State.ASLEEP:
        return None
    held = active(spec.keep_warm, now, lead_seconds=lead_seconds(spec))
    if held is not None:
        return f"keep-warm window {held.window.label} (from {iso(held.start)} to {iso(held.end)})"
    if lease_reason(item, now):
        return f"lease until {iso(item.lease_until or now)}"
    return None


def next_down_at(spec: ModelSpec, item: StateItem, now: float) -> float | None:
    """When, with no further traffic, no reason holds an up model any more (the reconciler's next run
    after it puts it down); None when it is not up."""
    if not spec.on_demand or item.state not in UP_STATES:
        return None
    moment = now
    for _ in range(MAX_CHAIN):
        ends = [traffic_until(spec, item), item.lease_until]
        ends.append(held_until(spec.keep_warm, moment, lead_seconds=lead_seconds(spec)))
        later = [end for end in ends if end is not None and end > moment]
        if not later:
            break
        moment = max(later)
    return moment


def next_up_at(spec: ModelSpec, item: StateItem, now: float) -> float | None:
    """When a window next brings the model up (its start less the warm lead), if one does."""
    if not spec.on_demand or not spec.keep_warm:
        return None
    after = now
    if item.state in UP_STATES:
        down = next_down_at(spec, item, now)
        if down is None:
            return None
        after = down
    elif should_wake(spec, item, now):
        return now
    upcoming = next_start(spec.keep_warm, after + lead_seconds(spec))
    return None if upcoming is None else upcoming.start - lead_seconds(spec)


def status_fields(spec: ModelSpec, item: StateItem, now: float, *, up_reasons: list[str]) -> dict[str, Any]:
    """What /status adds: why the model is (or must be) up, and when that next changes."""
    held = active(spec.keep_warm, now, lead_seconds=lead_seconds(spec))
    return {
        "up_reasons": up_reasons,
        "keep_warm": [window.label for window in spec.keep_warm],
        "window": None if held is None else {"window": held.window.label, "until": held.end},
        "lease_until": item.lease_until if lease_reason(item, now) else None,
        "next_down_at": next_down_at(spec, item, now),
        "next_up_at": next_up_at(spec, item, now),
        # Queued predictions waiting for this model (open jobs whose hold has not expired).
        "queued_jobs": len(live_holds(item.job_holds, now=now)),
    }
