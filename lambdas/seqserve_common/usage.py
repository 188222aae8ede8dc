"""Per-day usage of one model from its history: minutes up, wakes, requests, wake time, and cost.

"Up" is every moment from a move to ``waking`` to the move to ``asleep`` or ``failed``: the endpoint
exists or is being created or deleted, which is when SageMaker can bill it. Days are UTC days. Cost
needs ``serving.hourly_price`` (the endpoint's price per hour; none is assumed): ``cost_awake`` is the
up time at that price, ``cost_always_on`` the same day with the endpoint up throughout (up to now for
today), ``saved`` their difference.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from seqserve_common.history import Transition
from seqserve_common.lifecycle import State

UP_STATES = frozenset({State.WAKING, State.AWAKE, State.SLEEPING})
MAX_DAYS = 90


def day_starts(days: int, now: float) -> list[float]:
    """Epoch starts of the last ``days`` UTC days, today last."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [(today - timedelta(days=offset)).timestamp() for offset in range(days - 1, -1, -1)]


def up_intervals(
    transitions: Sequence[Transition], *, since: float, now: float, current: State
) -> list[tuple[float, float]]:
    """The spans in [since, now) the model was up. Before the first transition on record it was in
    that transition's ``from`` state (or, with none, in its current state)."""
    state = transitions[0].from_state if transitions else current
    moment = since
    spans = []
    for transition in sorted(transitions, key=lambda t: t.at):
        if state in UP_STATES and transition.at > moment:
            spans.append((moment, min(transition.at, now)))
        state, moment = transition.to_state, max(moment, transition.at)
    if state in UP_STATES and now > moment:
        spans.append((moment, now))
    return spans


def _overlap(spans: Sequence[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


def _money(value: float) -> float:
    return round(value, 4)


def daily_usage(
    *,
    transitions: Sequence[Transition],
    requests: Mapping[str, int],
    current: State,
    days: int,
    now: float,
    hourly_price: float | None,
) -> dict[str, Any]:
    starts = day_starts(days, now)
    spans = up_intervals(transitions, since=starts[0], now=now, current=current)
    report_days = []
    for start in starts:
        end = min(start + 86400, now)
        day = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")
        inside = [t for t in transitions if start <= t.at < start + 86400]
        wake_times = [t.wake_seconds for t in inside if t.wake_seconds is not None]
        seconds_up = _overlap(spans, start, end)
        entry: dict[str, Any] = {
            "day": day,
            "minutes_awake": round(seconds_up / 60, 2),
            "wakes": sum(1 for t in inside if t.to_state is State.WAKING),
            "requests": int(requests.get(day, 0)),
            "median_wake_seconds": round(statistics.median(wake_times), 1) if wake_times else None,
        }
        if hourly_price is not None:
            awake_cost = seconds_up / 3600 * hourly_price
            always_on = (end - start) / 3600 * hourly_price
            entry.update(
                cost_awake=_money(awake_cost),
                cost_always_on=_money(always_on),
                saved=_money(always_on - awake_cost),
            )
        report_days.append(entry)
    totals: dict[str, Any] = {
        "minutes_awake": round(sum(d["minutes_awake"] for d in report_days), 2),
        "wakes": sum(d["wakes"] for d in report_days),
        "requests": sum(d["requests"] for d in report_days),
    }
    if hourly_price is not None:
        for key in ("cost_awake", "cost_always_on", "saved"):
            totals[key] = _money(sum(d[key] for d in report_days))
    return {"days": report_days, "total": totals, "hourly_price": hourly_price}
