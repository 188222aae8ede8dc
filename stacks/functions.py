"""The invoker and idle-check Lambdas, each with its own least-privilege role.

Both deploy the one ``lambdas/`` asset with the environment of docs/internals.md. Powertools (and
pydantic) come from a layer unpacked at synth from the wheels pinned in requirements-lambda-layer.txt
(stacks/powertools_layer.py): no SSM lookup, so it deploys in every region; no Docker, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack, Stage
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from lambdas.seqserve_common.ownership import DEPLOYMENT_TAG
from stacks.config import ApiConfig
from stacks.jobs_environment import JOB_RUNNER_TIMEOUT_SECONDS
from stacks.lambda_environment import (
    IDLE_CHECKER_TIMEOUT_SECONDS,
    INVOKER_TIMEOUT_SECONDS,
    ServedModel,
    check_environment_size,
    lambda_environment,
)
from stacks.notifications import Notifications
from stacks.powertools_layer import layer_pins, stage_layer

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "tests", ".pytest_cache"]


def sagemaker_arn(stack: Stack, resource: str, name: str) -> str:
    return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)


def tagged_by(deployment: str) -> dict[str, dict[str, str]]:
    """The condition of every Delete/UpdateEndpoint: the endpoint carries this deployment's tag."""
    return {"StringEquals": {f"aws:ResourceTag/{DEPLOYMENT_TAG}": deployment}}


def tagging_as(deployment: str) -> dict[str, dict[str, str]]:
    """The condition of every CreateEndpoint: the request tags the new endpoint as this deployment's."""
    return {"StringEquals": {f"aws:RequestTag/{DEPLOYMENT_TAG}": deployment}}


class ServiceFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        models: tuple[ServedModel, ...],
        table: dynamodb.ITableV2,
        notifications: Notifications,
        endpoint_prefix: str,
        api: ApiConfig,
        history: dynamodb.ITableV2 | None = None,
        tag_keys: Sequence[str] = (),
    ) -> None:
        """``tag_keys``: the cdk.json tags' keys, which the functions pass to CreateEndpoint too."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # The ownership tag's value (seqserve_common.ownership): this deployment's service stack.
        self.deployment = stack.stack_name
        self._tag_keys = tuple(sorted(tag_keys))
        for model in models:
            if not model.endpoint_name.startswith(endpoint_prefix):
                raise ValueError(
                    f"endpoint name {model.endpoint_name!r} of model {model.name} does not start with "
                    f"{endpoint_prefix!r}; shorten the prefix so the idle check can find this app's endpoints"
                )
        self.endpoint_prefix = endpoint_prefix
        environment = lambda_environment(
            table_name=table.table_name,
            models=models,
            topic_arn=notifications.topic.topic_arn,
            api=api,
            endpoint_prefix=endpoint_prefix,
            history_table=None if history is None else history.table_name,
            deployment=self.deployment,
        )
        pins = layer_pins()
        powertools = lambda_.LayerVersion(
            self,
            "Powertools",
            code=lambda_.Code.from_asset(
                str(stage_layer(Path(Stage.of(self).outdir) / ".build" / "powertools-layer"))
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=(
                f"seqserve: Powertools {pins['aws_lambda_powertools']} and pydantic {pins['pydantic']}"
            ),
        )
        # Shared with the pipeline-cleanup function (stacks/model_cleanup.py).
        self.powertools = powertools
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
            description="seqserve: reconcile endpoints with their state; delete idle ones",
            code=code,
            layer=powertools,
            environment=environment,
            timeout=Duration.seconds(IDLE_CHECKER_TIMEOUT_SECONDS),
            # No reserved concurrency (a new account's unreserved minimum of 10 may not allow it): runs
            # never overlap because each holds a lock item in the state table (seqserve_common.run_lock).
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
        if history is not None:
            # Usage history (issue 13): both record transitions; the invoker counts requests and reads.
            history.grant(self.invoker.role, "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query")
            history.grant(self.idle_checker.role, "dynamodb:PutItem")

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
    ) -> TrackedFunction:
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
        function = TrackedFunction(
            self,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
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

    def _config_arns(self, stack: Stack, on_demand: list[ServedModel]) -> list[str]:
        arns = [sagemaker_arn(stack, "endpoint-config", f"{m.endpoint_name}-*") for m in on_demand]
        arns += [
            sagemaker_arn(stack, "endpoint-config", m.endpoint_config_name)
            for m in on_demand
            if m.endpoint_config_name is not None
        ]
        return arns

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
        # /status of a serverless or always_on model describes its endpoint (it has no state item).
        managed = [m for m in models if m.mode != "on_demand"]
        if managed:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="DescribeManagedEndpoints",
                    actions=["sagemaker:DescribeEndpoint"],
                    resources=[sagemaker_arn(stack, "endpoint", m.endpoint_name) for m in managed],
                )
            )
        if role is self.invoker.role:
            # GET /models/{name}/evaluation (the invoker only): endpoint config -> model -> its artifact.
            # Training runs and CloudFormation name both after the model's base, which is not the
            # endpoint's name for always_on (that one carries the instance type's hash).
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="ReadOwnModelArtifactNames",
                    actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                    resources=[
                        sagemaker_arn(stack, kind, f"{m.name_base}-*")
                        for m in models
                        for kind in ("endpoint-config", "model")
                    ],
                )
            )
        on_demand = [m for m in models if m.mode == "on_demand"]
        if on_demand:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="DescribeOwnEndpoints",
                    actions=["sagemaker:DescribeEndpoint"],
                    resources=self._endpoint_arns(stack, models, on_demand_only=True),
                )
            )
            self._grant_create(stack, role, on_demand)
            if role is self.invoker.role:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        sid="SleepOwnEndpoints",
                        # POST /models/{m}/sleep puts a model down now (issue 13); the invoker only.
                        actions=["sagemaker:DeleteEndpoint"],
                        resources=self._endpoint_arns(stack, models, on_demand_only=True),
                        conditions=tagged_by(self.deployment),
                    )
                )
        table.grant(role, "dynamodb:GetItem", "dynamodb:UpdateItem")

    def _grant_create(self, stack: Stack, role: iam.IRole, on_demand: list[ServedModel]) -> None:
        """CreateEndpoint of the on-demand models' endpoints, only tagged as this deployment's.

        Tags in a CreateEndpoint call need sagemaker:AddTags too: only this deployment's tag and the
        cdk.json tags' keys, only with this deployment's value.
        """
        endpoints = [sagemaker_arn(stack, "endpoint", m.endpoint_name) for m in on_demand]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CreateOwnEndpointsTagged",
                actions=["sagemaker:CreateEndpoint"],
                resources=endpoints,
                conditions=tagging_as(self.deployment),
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TagOwnEndpointsOnCreate",
                actions=["sagemaker:AddTags"],
                resources=endpoints,
                conditions={
                    **tagging_as(self.deployment),
                    "ForAllValues:StringEquals": {"aws:TagKeys": [DEPLOYMENT_TAG, *self._tag_keys]},
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="UseOwnEndpointConfigs",
                actions=["sagemaker:CreateEndpoint"],
                resources=self._config_arns(stack, on_demand),
            )
        )

    def _grant_idle_checker(
        self,
        stack: Stack,
        models: tuple[ServedModel, ...],
        table: dynamodb.ITableV2,
        notifications: Notifications,
    ) -> None:
        role = self.idle_checker.role
        endpoints = self._endpoint_arns(stack, models, on_demand_only=True)
        on_demand = [m for m in models if m.mode == "on_demand"]
        prefixed = sagemaker_arn(stack, "endpoint", f"{self.endpoint_prefix}*")
        if endpoints:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="DescribeOwnEndpoints", actions=["sagemaker:DescribeEndpoint"], resources=endpoints
                )
            )
            self._grant_create(stack, role, on_demand)
        # Endpoints with this app's prefix: their tags say whose they are (ListTags); only this
        # deployment's are adopted, and IAM lets it delete only endpoints carrying its tag, so another
        # deployment sharing the prefix (seqserve and seqserve-dev) is never touched.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadPrefixedEndpoints",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:ListTags"],
                resources=[prefixed],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DeleteOnlyOwnEndpoints",
                actions=["sagemaker:DeleteEndpoint"],
                resources=[*endpoints, prefixed],
                conditions=tagged_by(self.deployment),
            )
        )
        # ListEndpoints has no resource-level permissions.
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="ListEndpoints", actions=["sagemaker:ListEndpoints"], resources=["*"])
        )
        # PutItem and DeleteItem also take and release the run lock (seqserve_common.run_lock).
        table.grant(
            role, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:PutItem"
        )
        notifications.grant_publish(role)


class TrackedFunction(lambda_.Function):
    """A Lambda function that remembers its variables, so the environment it finally deploys with (every
    construct's ``add_environment`` included) can be checked against Lambda's 4 KB before synth."""

    def __init__(self, scope: Construct, construct_id: str, *, environment: dict[str, str], **kwargs) -> None:
        super().__init__(scope, construct_id, environment=environment, **kwargs)
        self.variables = dict(environment)

    def add_environment(
        self, key: str, value: str, *, remove_in_edge: bool | None = None
    ) -> lambda_.Function:
        self.variables[key] = value
        return super().add_environment(key, value, remove_in_edge=remove_in_edge)


def check_final_environments(functions: ServiceFunctions, *, model_count: int) -> None:
    """Each function's environment as it will deploy, after every construct added its variables."""
    for function in (functions.invoker, functions.idle_checker, functions.job_runner):
        check_environment_size(function.variables, model_count=model_count, function=function.node.id)
