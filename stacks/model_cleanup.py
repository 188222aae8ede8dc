"""The training pipeline's last step: delete a model's SageMaker models and endpoint configurations
beyond the newest ``serving.keep_configs`` (lambdas/pipeline_cleanup).

One function serves every model's pipeline; its role may delete only names with a configured model's
prefix (``<base>-*``), and the function itself touches only ``<base>-<run uuid>`` names. It gets the
Powertools layer of the other functions once they exist (``use_layer``): the pipelines, built first,
already invoke it.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from stacks.config import ModelConfig
from stacks.functions import ASSET_EXCLUDES, LAMBDA_SOURCE, LOG_RETENTION, sagemaker_arn

# Listing a model's few dozen names and deleting a handful, at two attempts per control-plane call.
TIMEOUT = Duration.seconds(120)


class ModelCleanup(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, table: dynamodb.ITableV2) -> None:
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="seqserve pipeline-cleanup Lambda",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        # SageMaker's List* calls support no resource-level permissions.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListModelsAndConfigs",
                actions=["sagemaker:ListEndpointConfigs", "sagemaker:ListModels"],
                resources=["*"],
            )
        )
        table.grant(self.role, "dynamodb:GetItem")
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler="pipeline_cleanup.handler.handler",
            code=lambda_.Code.from_asset(str(LAMBDA_SOURCE), exclude=ASSET_EXCLUDES),
            environment={"STATE_TABLE": table.table_name, "POWERTOOLS_SERVICE_NAME": "pipeline-cleanup"},
            description="seqserve: delete a model's old SageMaker models and endpoint configurations",
            memory_size=256,
            timeout=TIMEOUT,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            role=self.role,
        )

    def use_layer(self, layer: lambda_.ILayerVersion) -> None:
        self.function.add_layers(layer)

    def allow_model(self, *, base: str, endpoint_name: str) -> None:
        """Delete rights on one model's run-named resources; read its endpoint's configuration."""
        stack = Stack.of(self)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DeleteEndpointConfig"],
                resources=[sagemaker_arn(stack, "endpoint-config", f"{base}-*")],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sagemaker:DeleteModel"], resources=[sagemaker_arn(stack, "model", f"{base}-*")]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sagemaker:DescribeEndpoint"],
                resources=[sagemaker_arn(stack, "endpoint", endpoint_name)],
            )
        )

    def step(self, scope: Construct, construct_id: str, *, model: ModelConfig, base: str, endpoint_name: str):
        """The pipeline's task; a failed cleanup is only logged: the next run retries it."""
        self.allow_model(base=base, endpoint_name=endpoint_name)
        return tasks.LambdaInvoke(
            scope,
            construct_id,
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object(
                {
                    "model": model.name,
                    "base": base,
                    "endpoint_name": endpoint_name,
                    "keep": model.serving.keep_configs,
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )

    def suppress_findings(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self,
            [
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason="Python 3.12 is the runtime the Lambda code, its tests and the Powertools layer "
                    "are pinned to",
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="sagemaker:ListEndpointConfigs/ListModels and the X-Ray calls of active tracing "
                    "support no resource-level permissions",
                    applies_to=["Resource::*"],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="every training run names its model and endpoint configuration <endpoint name>-"
                    "<run uuid>; the cleanup may delete only names with a configured model's prefix",
                    applies_to=[
                        {
                            "regex": r"/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:"
                            r"(model|endpoint-config)\/.+-\*$/"
                        }
                    ],
                ),
            ],
            apply_to_children=True,
        )


def suppress_invoke_finding(state_machine: sfn.StateMachine) -> None:
    NagSuppressions.add_resource_suppressions(
        state_machine.role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="Step Functions' LambdaInvoke grants the cleanup function and its versions (<arn>:*)",
                applies_to=[{"regex": r"/^Resource::<.*Cleanup.*\.Arn>:\*$/"}],
            )
        ],
        apply_to_children=True,
    )
