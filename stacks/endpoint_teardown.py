"""On deleting the service stack, delete every endpoint this deployment owns (lambdas/teardown).

on_demand endpoints are created by the Lambdas, not by CloudFormation: without this, ``cdk destroy``
while a model is awake removes the reconciler and leaves the endpoint billing by the hour. A custom
resource (the CDK Provider framework) runs the teardown function on Delete; the function deletes the
endpoints carrying this deployment's tag and waits, within its own timeout, until SageMaker lists none.

One on_event handler that waits, rather than an is_complete handler polled by the framework's state
machine: SageMaker deletes a real-time endpoint in minutes, well inside Lambda's 15; one function keeps
the local stack and the IAM evaluation to the function that really runs; and the framework's waiter
would add a Step Functions state machine and two more functions to every deployment. A Delete that
runs out of time fails naming the endpoints, so ``cdk destroy`` says so instead of finishing silently.

Every function that can create an endpoint (and the schedule that runs the reconciler) depends on the
custom resource, so CloudFormation deletes them first: no wake can start after the teardown looked.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct, IConstruct

from stacks.functions import (
    ARCHITECTURE,
    ASSET_EXCLUDES,
    LAMBDA_SOURCE,
    LOG_RETENTION,
    RUNTIME,
    sagemaker_arn,
    tagged_by,
)

# Lambda's limit; the framework's own function waits as long. WAIT leaves a minute to report.
TIMEOUT = Duration.minutes(15)
WAIT_SECONDS = 14 * 60
POLL_SECONDS = 15


class EndpointTeardown(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        endpoint_prefix: str,
        layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="seqserve endpoint-teardown Lambda",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        prefixed = sagemaker_arn(stack, "endpoint", f"{endpoint_prefix}*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPrefixedEndpoints",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:ListTags"],
                resources=[prefixed],
            )
        )
        # As the reconciler's: only endpoints carrying this deployment's tag.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="DeleteOnlyOwnEndpoints",
                actions=["sagemaker:DeleteEndpoint"],
                resources=[prefixed],
                conditions=tagged_by(deployment),
            )
        )
        # ListEndpoints has no resource-level permissions.
        self.role.add_to_policy(
            iam.PolicyStatement(sid="ListEndpoints", actions=["sagemaker:ListEndpoints"], resources=["*"])
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="teardown.handler.handler",
            code=lambda_.Code.from_asset(str(LAMBDA_SOURCE), exclude=ASSET_EXCLUDES),
            layers=[layer],
            environment={
                "DEPLOYMENT_NAME": deployment,
                "ENDPOINT_PREFIX": endpoint_prefix,
                "WAIT_SECONDS": str(WAIT_SECONDS),
                "POLL_SECONDS": str(POLL_SECONDS),
                "POWERTOOLS_SERVICE_NAME": "endpoint-teardown",
            },
            description="seqserve: on stack delete, delete this deployment's endpoints and wait for them",
            memory_size=256,
            timeout=TIMEOUT,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            role=self.role,
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            log_group=logs.LogGroup(
                self, "ProviderLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
            ),
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type="Custom::SeqserveEndpointTeardown",
        )

    def runs_after(self, *creators: IConstruct) -> None:
        """Deleted after ``creators`` (they depend on it): nothing can create an endpoint once it runs."""
        for creator in creators:
            creator.node.add_dependency(self.resource)

    def suppress_findings(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self,
            [
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason="Python 3.12 is the runtime the Lambda code and the Powertools layer are pinned "
                    "to; the Provider framework's own function runtime is chosen by the CDK",
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="the CDK Provider framework's function uses AWSLambdaBasicExecutionRole to write "
                    "its logs",
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="sagemaker:ListEndpoints and the X-Ray calls of active tracing support no "
                    "resource-level permissions; endpoints are named by the app's prefix and deleted only "
                    "with this deployment's tag; the Provider framework invokes the teardown function "
                    "and its versions (<arn>:*)",
                    applies_to=[
                        "Resource::*",
                        {
                            "regex": r"/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:"
                            r"endpoint\/.+\*$/"
                        },
                        {"regex": r"/^Resource::<.*Teardown.*\.Arn>:\*$/"},
                    ],
                ),
            ],
            apply_to_children=True,
        )
