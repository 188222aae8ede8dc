"""The Lambda-hosted model of one model (issue 21): lambdas/model_server with model_code's ONNX predictor.

One asset for every model's function: lambdas/model_server, model_code (shared, not copied into the
repository: staged at synth) and the wheels of requirements-serving-lambda.txt, unpacked offline from
what `make install` downloaded for CPython 3.12 on arm64 (as the Powertools layer is). No layer: the
function needs no Powertools, and one asset is one thing to keep under Lambda's 250 MB unzipped.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import ApiConfig, ModelConfig
from stacks.container_environment import container_environment
from stacks.functions import ARCHITECTURE, LOG_RETENTION, RUNTIME, sagemaker_arn
from stacks.lambda_environment import MODEL_SERVER_TIMEOUT_SECONDS
from stacks.lambda_sizing import lambda_size
from stacks.model_server_asset import HANDLER
from stacks.storage import ARTIFACT_PREFIX


class ModelServingFunction(Construct):
    """The function, its role (read the model's artifact and where it is recorded) and its log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: ModelConfig,
        code: lambda_.Code,
        name_base: str,
        endpoint_config_name: str | None,
        table: dynamodb.ITableV2,
        bucket: s3.IBucket,
        api: ApiConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        size = lambda_size(model)
        log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"seqserve model {model.name} served from Lambda",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        model_data = model.serving.model_data
        located = (
            {"MODEL_DATA": model_data}
            if model_data
            else {
                "STATE_TABLE": table.table_name,
                **({"ENDPOINT_CONFIG_NAME": endpoint_config_name} if endpoint_config_name else {}),
            }
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=code,
            environment={"MODEL_NAME": model.name, **located, **container_environment(api)},
            description=f"seqserve: model {model.name} ({model.preset}) answered by ONNX Runtime",
            memory_size=size.memory_mb,
            ephemeral_storage_size=Size.mebibytes(size.storage_mb),
            timeout=Duration.seconds(MODEL_SERVER_TIMEOUT_SECONDS),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            role=role,
        )
        if model_data:
            bucket_name, key = model_data.removeprefix("s3://").split("/", 1)
            s3.Bucket.from_bucket_name(self, "ModelDataBucket", bucket_name).grant_read(role, key)
        else:
            # Where the current artifact is recorded: the state item's endpoint configuration (read
            # only), the configuration's model and that model's artifact, under the model's own names.
            table.grant(role, "dynamodb:GetItem")
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="ReadOwnModelArtifactNames",
                    actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                    resources=[
                        sagemaker_arn(stack, kind, f"{name_base}-*") for kind in ("endpoint-config", "model")
                    ],
                )
            )
            bucket.grant_read(role, f"{ARTIFACT_PREFIX}{model.name}/*")

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        return self.function.grant_invoke(grantee)
