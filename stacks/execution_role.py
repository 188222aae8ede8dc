"""The SageMaker execution role of one model: its training jobs and its endpoints run as this role."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.storage import ARTIFACT_PREFIX, CHECKPOINT_PREFIX, DATA_PREFIX
from stacks.training_image import TRAINING_REPOSITORY


class ModelExecutionRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_name: str,
        bucket: s3.IBucket,
        serving_repository: ecr.IRepository,
        training_registry_account: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"seqserve SageMaker execution role of model {model_name}",
        )
        bucket.grant_read(self.role, f"{DATA_PREFIX}{model_name}/*")
        bucket.grant_read_write(self.role, f"{ARTIFACT_PREFIX}{model_name}/*")
        bucket.grant_read_write(self.role, f"{CHECKPOINT_PREFIX}{model_name}/*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListOwnPrefixes",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={
                    "StringLike": {
                        "s3:prefix": [
                            f"{prefix}{model_name}/*"
                            for prefix in (DATA_PREFIX, ARTIFACT_PREFIX, CHECKPOINT_PREFIX)
                        ]
                    }
                },
            )
        )
        serving_repository.grant_pull(self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PullPyTorchTrainingImage",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[
                    stack.format_arn(
                        service="ecr",
                        account=training_registry_account,
                        resource="repository",
                        resource_name=TRAINING_REPOSITORY,
                    )
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteJobAndEndpointLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"/aws/sagemaker/{kind}/*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for kind in ("TrainingJobs", "Endpoints")
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PublishSageMakerMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
            )
        )
