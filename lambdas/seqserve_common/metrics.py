"""Per-model CloudWatch metrics in EMF (namespace from POWERTOOLS_METRICS_NAMESPACE).

Each metric is flushed on its own with its ``model`` dimension, so one invocation (or one idle check
over several models) never mixes one model's dimension into another's metrics.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric


def emit(name: str, *, model: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    with single_metric(name=name, unit=unit, value=value) as metric:
        metric.add_dimension(name="model", value=model)
