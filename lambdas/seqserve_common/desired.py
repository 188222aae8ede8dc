"""Whether a model should be up: the one decision the reconciler sleeps a model by (interfaces.md #1)."""

from __future__ import annotations

from seqserve_common.jobs import jobs_reason
from seqserve_common.lifecycle import State, idle_cutoff
from seqserve_common.reasons import operator_reasons
from seqserve_common.settings import ModelSpec
from seqserve_common.state import StateItem

# States whose ``state_changed_at`` counts as use: a model just woken (or adopted) gets a full idle period.
_FRESH_STATES = frozenset({State.WAKING, State.AWAKE})


def last_used(item: StateItem) -> float | None:
    """The latest recorded use: the last invocation, or the moment the model woke, whichever is later."""
    times = [item.last_invoked_at]
    if item.state in _FRESH_STATES:
        times.append(item.state_changed_at)
    known = [t for t in times if t is not None]
    return max(known) if known else None


def up_reasons(*, spec: ModelSpec, item: StateItem, now: float) -> list[str]:
    """Why the model must stay or come up; the reconciler puts it to sleep only when this is empty.

    "traffic": used within ``idle_minutes`` plus the write-coalescing slack (seqserve_common.lifecycle);
    "window" and "lease": the operator features' reasons (seqserve_common.reasons); "jobs": queued
    predictions wait for the model (an open job's hold that has not expired: seqserve_common.jobs).
    """
    reasons: list[str] = []
    used = last_used(item)
    if used is not None and used >= idle_cutoff(now=now, idle_minutes=spec.idle_minutes):
        reasons.append("traffic")
    jobs = jobs_reason(item.job_holds, now=now)
    return reasons + operator_reasons(spec, item, now) + ([jobs] if jobs else [])
