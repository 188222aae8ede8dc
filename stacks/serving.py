"""Serving of one model in its configured mode.

- ``on_demand``: the endpoint configuration (when an artifact is given) and the state item. The
  endpoint itself belongs to the Lambdas, which create it on demand and delete it when idle; as a
  CloudFormation resource every idle shutdown would be drift that the next deploy recreates.
- ``serverless``: an endpoint with ServerlessConfig.
- ``always_on``: an endpoint autoscaled by target tracking on invocations per instance.

Every SageMaker resource here has an explicit lowercase name (IAM matches lowercased ARNs). The model
and the endpoint configuration are named after a hash of their properties, so a change creates new
ones under new names before CloudFormation deletes the old ones.

Updating an ``always_on`` endpoint: a new model or image is an UpdateEndpoint with
RetainAllVariantProperties, so the instance count autoscaling reached is kept (not reset to
``min_instances``). SageMaker refuses to change the instance type of a variant registered with
autoscaling; so the instance type is part of the endpoint's name, and a new instance type is a new
endpoint (with its own scalable target) that CloudFormation creates, fills and switches the invoker to
before it deregisters and deletes the old one: blue/green, no failed update and no downtime.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aws_cdk import Aws, Stack
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.config import ModelConfig
from stacks.naming import content_name

VARIANT = "AllTraffic"
S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")


def grant_model_data(role: iam.IRole, model_data: str) -> None:
    """Let the execution role read exactly the configured model.tar.gz, wherever it lies.

    The role's own grants cover only this model's prefixes of the app's bucket; an artifact elsewhere
    (another prefix or bucket of the account) would pass synth and fail at CreateModel.
    """
    match = S3_URI.match(model_data)
    if match is None:
        raise ValueError(f"serving.model_data: {model_data!r} is not an s3:// URI")
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadServedModelData",
            actions=["s3:GetObject"],
            resources=[f"arn:{Aws.PARTITION}:s3:::{match['bucket']}/{match['key']}"],
        )
    )


class ModelServing(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: ModelConfig,
        endpoint_name: str,
        image_uri: str,
        execution_role: iam.IRole,
        table: dynamodb.ITableV2,
        image_copy: Construct,
        container_environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        serving = model.serving
        self.endpoint_name = endpoint_name
        if serving.mode == "always_on":
            self.endpoint_name = content_name(endpoint_name, serving.instance_type)
        self.endpoint_config_name: str | None = None
        self.endpoint: sagemaker.CfnEndpoint | None = None
        # Mode lambda: the serving function reads model_data itself (MODEL_DATA), or the artifact the
        # training pipeline records in the state item; no SageMaker model, configuration or endpoint.
        if serving.model_data is not None and serving.mode != "lambda":
            grant_model_data(execution_role, serving.model_data)
            container = {
                "image": image_uri,
                "model_data_url": serving.model_data,
                "environment": dict(container_environment),
            }
            model_name = content_name(
                endpoint_name,
                Stack.of(self).resolve({**container, "role": execution_role.role_arn}),
            )
            sm_model = sagemaker.CfnModel(
                self,
                "Model",
                model_name=model_name,
                execution_role_arn=execution_role.role_arn,
                primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(**container),
            )
            # SageMaker checks at CreateModel that the role can pull the image and read the artifact.
            policy = execution_role.node.try_find_child("DefaultPolicy")
            if policy is not None:
                sm_model.node.add_dependency(policy)
            sm_model.node.add_dependency(image_copy)
            variant = self._variant(model, model_name)
            config = sagemaker.CfnEndpointConfig(
                self,
                "EndpointConfig",
                endpoint_config_name=content_name(endpoint_name, self._variant_content(model, model_name)),
                production_variants=[variant],
            )
            config.node.add_dependency(sm_model)
            self.endpoint_config_name = config.endpoint_config_name
        if serving.mode in ("on_demand", "lambda"):
            self._state_item(model, table)
        else:
            self.endpoint = sagemaker.CfnEndpoint(
                self,
                "Endpoint",
                endpoint_name=self.endpoint_name,
                endpoint_config_name=self.endpoint_config_name,
                # Keep the instance count autoscaling set when a new model or image comes in.
                retain_all_variant_properties=serving.mode == "always_on" or None,
            )
            self.endpoint.node.add_dependency(config)
        if serving.mode == "always_on":
            self._autoscaling(model)

    @staticmethod
    def _variant_content(model: ModelConfig, model_name: str) -> dict[str, object]:
        """What the endpoint configuration's variant is made of (so its name changes with it)."""
        serving = model.serving
        if serving.mode == "serverless":
            return {
                "model": model_name,
                "memory_mb": serving.memory_mb,
                "concurrency": serving.max_concurrency,
            }
        count = serving.min_instances if serving.mode == "always_on" else 1
        return {"model": model_name, "instance_type": serving.instance_type, "count": count}

    @staticmethod
    def _variant(
        model: ModelConfig, model_name: str
    ) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
        serving = model.serving
        if serving.mode == "serverless":
            return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT,
                model_name=model_name,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=serving.memory_mb, max_concurrency=serving.max_concurrency
                ),
            )
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT,
            model_name=model_name,
            instance_type=serving.instance_type,
            initial_instance_count=serving.min_instances if serving.mode == "always_on" else 1,
            initial_variant_weight=1.0,
        )

    def _state_item(self, model: ModelConfig, table: dynamodb.ITableV2) -> None:
        # Created once and never overwritten: after the first deploy the Lambdas own the item.
        put = cr.AwsSdkCall(
            service="DynamoDB",
            action="putItem",
            parameters={
                "TableName": table.table_name,
                "Item": {
                    "model": {"S": model.name},
                    "state": {"S": "asleep"},
                    "last_invoked_at": {"N": "0"},
                    "state_changed_at": {"N": "0"},
                },
                "ConditionExpression": "attribute_not_exists(#m)",
                "ExpressionAttributeNames": {"#m": "model"},
            },
            physical_resource_id=cr.PhysicalResourceId.of(f"state-item-{model.name}"),
            ignore_error_codes_matching="ConditionalCheckFailedException",
        )
        cr.AwsCustomResource(
            self,
            "StateItem",
            on_create=put,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[table.table_arn])]
            ),
            install_latest_aws_sdk=False,
        )

    def _autoscaling(self, model: ModelConfig) -> None:
        target = autoscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=model.serving.min_instances,
            max_capacity=model.serving.max_instances,
        )
        target.node.add_dependency(self.endpoint)
        target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=model.serving.target_invocations_per_instance,
            predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
        )
