"""Should this model be up? The one function the reconciler asks (interfaces.md #1).

The reconciler puts a model down only when ``up_reasons`` is empty. ``traffic`` is the lifecycle's own
reason; ``window`` and ``lease`` are the operator features' (``seqserve_common.reasons``).
"""

from __future__ import annotations

from seqserve_common.reasons import operator_reasons, traffic_reason
from seqserve_common.settings import ModelSpec
from seqserve_common.state import StateItem


def up_reasons(*, spec: ModelSpec, item: StateItem, now: float) -> list[str]:
    traffic = traffic_reason(spec, item, now)
    return ([traffic] if traffic else []) + operator_reasons(spec, item, now)
