"""The EventBridge schedule that runs the reconciler (the idle check).

The rule is always enabled: a run while everything sleeps costs one Lambda call and a few reads
(README, "What idle costs"), and a schedule that could be off is how an endpoint ran unwatched.
The checker has reserved concurrency 1, so runs never overlap.
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
            description="seqserve: reconcile endpoints with their state; delete idle ones",
            schedule=events.Schedule.rate(Duration.minutes(every_minutes)),
            enabled=True,
            targets=[
                targets.LambdaFunction(
                    checker, retry_attempts=0, max_event_age=Duration.minutes(every_minutes)
                )
            ],
        )
