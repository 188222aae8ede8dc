"""The alarm on serving.max_awake_hours_per_day: an on_demand model awake longer than that in 24 hours."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import ModelConfig
from stacks.monitoring import IDLE_CHECKER, lifecycle_metric


def awake_alarm(
    scope: Construct, construct_id: str, *, model: ModelConfig, topic: sns.ITopic
) -> cloudwatch.Alarm | None:
    """serving.max_awake_hours_per_day: the endpoint existed longer than that in the last 24 hours.

    The idle check adds each run's minutes since its previous look while the endpoint exists to
    ``MinutesAwake``, so the metric's Sum over a day is the minutes the endpoint was up that day.
    """
    hours = model.serving.max_awake_hours_per_day
    if hours is None:
        return None
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        metric=lifecycle_metric(model.name, "MinutesAwake", IDLE_CHECKER).with_(period=Duration.days(1)),
        threshold=hours * 60,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=(
            f"The endpoint of model {model.name} was awake more than {hours} h in the last 24 h "
            "(serving.max_awake_hours_per_day)"
        ),
    )
    alarm.add_alarm_action(actions.SnsAction(topic))
    return alarm
