"""The invoker and idle-check Lambdas, each with its own least-privilege role.

Both deploy the one ``lambdas/`` asset with the environment of docs/internals.md. Powertools comes
from its public layer, resolved at deploy time from the SSM parameter Powertools publishes for the
exact version pinned in requirements.txt, so synth needs no lookup and no Docker.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.config import ApiConfig
from stacks.jobs_environment import JOB_RUNNER_TIMEOUT_SECONDS
from stacks.lambda_environment import (
    IDLE_CHECKER_TIMEOUT_SECONDS,
    INVOKER_TIMEOUT_SECONDS,
    ServedModel,
    lambda_environment,
)
from stacks.notifications import Notifications

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambdas"
POWERTOOLS_VERSION = "3.37.0"
POWERTOOLS_PARAMETER = f"/aws/service/powertools/python/arm64/python3.12/{POWERTOOLS_VERSION}"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "tests", ".pytest_cache"]


def sagemaker_arn(stack: Stack, resource: str, name: str) -> str:
    return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)


class ServiceFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        models: tuple[ServedModel, ...],
        table: dynamodb.ITableV2,
        notifications: Notifications,
        idle_rule_name: str,
        api: ApiConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.rule_arn = stack.format_arn(service="events", resource="rule", resource_name=idle_rule_name)
        environment = lambda_environment(
            table_name=table.table_name,
            models=models,
            idle_rule_name=idle_rule_name,
            topic_arn=notifications.topic.topic_arn,
            api=api,
        )
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_PARAMETER)
        )
        code = lambda_.Code.from_asset(str(LAMBDA_SOURCE), exclude=ASSET_EXCLUDES)
        self.invoker = self._function(
            "Invoker",
            handler="invoker.handler.handler",
            service="invoker",
            description="seqserve REST API: predict, status, wake, list models",
            code=code,
            layer=powertools,
            environment=environment,
            timeout=Duration.seconds(INVOKER_TIMEOUT_SECONDS),
        )
        self.idle_checker = self._function(
            "IdleChecker",
            handler="idle_checker.handler.handler",
            service="idle-checker",
            description="seqserve: delete endpoints idle longer than their idle_minutes",
            code=code,
            layer=powertools,
            environment=environment,
            timeout=Duration.seconds(IDLE_CHECKER_TIMEOUT_SECONDS),
        )
        # Queued predictions (stacks/job_queue.py): it calls and wakes endpoints as the invoker does.
        self.job_runner = self._function(
            "JobRunner",
            handler="job_runner.handler.handler",
            service="job-runner",
            description="seqserve: run queued predictions once their endpoint is in service",
            code=code,
            layer=powertools,
            environment=environment,
            timeout=Duration.seconds(JOB_RUNNER_TIMEOUT_SECONDS),
        )
        self._grant_invoker(stack, models, table)
        self._grant_invoker(stack, models, table, role=self.job_runner.role)
        self._grant_idle_checker(stack, models, table, notifications)

    def _function(
        self,
        construct_id: str,
        *,
        handler: str,
        service: str,
        description: str,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
        timeout: Duration,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self, f"{construct_id}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"seqserve {service} Lambda",
        )
        # Only this function's log group; the log group exists before the function, so no CreateLogGroup.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        function = lambda_.Function(
            self,
            construct_id,
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=code,
            layers=[layer],
            environment={**environment, "POWERTOOLS_SERVICE_NAME": service},
            description=description,
            memory_size=512,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            role=role,
        )
        return function

    def _endpoint_arns(
        self, stack: Stack, models: tuple[ServedModel, ...], *, on_demand_only: bool
    ) -> list[str]:
        return [
            sagemaker_arn(stack, "endpoint", m.endpoint_name)
            for m in models
            if m.mode == "on_demand" or not on_demand_only
        ]

    def _grant_invoker(
        self,
        stack: Stack,
        models: tuple[ServedModel, ...],
        table: dynamodb.ITableV2,
        *,
        role: iam.IRole | None = None,
    ) -> None:
        role = role or self.invoker.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeOwnEndpoints",
                actions=["sagemaker:InvokeEndpoint"],
                resources=self._endpoint_arns(stack, models, on_demand_only=False),
            )
        )
        on_demand = [m for m in models if m.mode == "on_demand"]
        if on_demand:
            config_arns = [sagemaker_arn(stack, "endpoint-config", f"{m.endpoint_name}-*") for m in on_demand]
            config_arns += [
                sagemaker_arn(stack, "endpoint-config", m.endpoint_config_name)
                for m in on_demand
                if m.endpoint_config_name is not None
            ]
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="WakeOwnEndpoints",
                    actions=["sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint"],
                    resources=self._endpoint_arns(stack, models, on_demand_only=True),
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="UseOwnEndpointConfigs",
                    actions=["sagemaker:CreateEndpoint"],
                    resources=config_arns,
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="EnableIdleCheck", actions=["events:EnableRule"], resources=[self.rule_arn]
                )
            )
        table.grant(role, "dynamodb:GetItem", "dynamodb:UpdateItem")

    def _grant_idle_checker(
        self,
        stack: Stack,
        models: tuple[ServedModel, ...],
        table: dynamodb.ITableV2,
        notifications: Notifications,
    ) -> None:
        role = self.idle_checker.role
        endpoints = self._endpoint_arns(stack, models, on_demand_only=True)
        if endpoints:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="SleepOwnEndpoints",
                    actions=["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"],
                    resources=endpoints,
                )
            )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ToggleIdleCheck",
                actions=["events:EnableRule", "events:DisableRule", "events:DescribeRule"],
                resources=[self.rule_arn],
            )
        )
        table.grant(role, "dynamodb:GetItem", "dynamodb:UpdateItem")
        notifications.grant_publish(role)
