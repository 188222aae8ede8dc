"""The SageMaker execution role of one model: its training jobs and its endpoints run as this role."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from stacks.storage import ARTIFACT_PREFIX, CHECKPOINT_PREFIX, DATA_PREFIX
from stacks.training_image import TRAINING_REPOSITORY

# Training jobs log to the one group /aws/sagemaker/TrainingJobs (stream <job>/algo-N): the group itself
# (CreateLogGroup, DescribeLogStreams) and its streams (":*"). Endpoints log to a group per endpoint,
# /aws/sagemaker/Endpoints/<endpoint>, which "Endpoints/*" covers with its streams.
LOG_GROUPS = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/TrainingJobs:*", "/aws/sagemaker/Endpoints/*")
# What SageMaker does with the execution role to attach a training job's or an endpoint's instances to
# the configured subnets (the SageMaker developer guide's list for a VpcConfig).
NETWORK_INTERFACE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)


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
        in_vpc: bool = False,
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
                        resource_name=name,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for name in LOG_GROUPS
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
        if in_vpc:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="AttachToTheVpc", actions=list(NETWORK_INTERFACE_ACTIONS), resources=["*"]
                )
            )
            NagSuppressions.add_resource_suppressions(
                self.role,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        reason="SageMaker's network-interface calls for a VpcConfig: the Describe actions "
                        "support no resource-level permissions, and the interfaces SageMaker creates and "
                        "deletes get their ids at run time",
                        applies_to=["Resource::*"],
                    )
                ],
                apply_to_children=True,
            )
