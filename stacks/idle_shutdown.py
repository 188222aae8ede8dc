"""The EventBridge schedule that runs the idle check.

The rule has a name derived from the stack name because both Lambdas must know it at runtime (the
invoker enables it on wake, the idle checker disables it once every model is asleep). It is created
enabled: a redeploy that touches it while a model is awake must not strand a running endpoint, and
the first check disables it again if nothing is awake.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


class IdleShutdown(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rule_name: str,
        every_minutes: int,
        checker: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Schedule",
            rule_name=rule_name,
            description="seqserve: delete endpoints idle longer than their idle_minutes",
            schedule=events.Schedule.rate(Duration.minutes(every_minutes)),
            enabled=True,
            targets=[
                targets.LambdaFunction(
                    checker, retry_attempts=0, max_event_age=Duration.minutes(every_minutes)
                )
            ],
        )
