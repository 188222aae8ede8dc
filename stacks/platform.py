"""The options a company account asks for, applied in one place: tags, an existing VPC and a
customer-managed KMS key (cdk.json ``tags``, ``network``, ``kms_key_arn``).

CloudFormation resources get them from ``Tags.of(app)`` and from :class:`SageMakerPlatformAspect`; the
SageMaker resources the training pipeline creates through API calls get them from the request builders
here, and the endpoints the Lambdas create (invoker, reconciler, job runner) get the tags through their
``TAGS`` variable.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import jsii
from aws_cdk import AspectPriority, Aspects, IAspect, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct, IConstruct

from stacks.config import DeploymentConfig, ModelConfig, NetworkConfig
from stacks.instance_storage import endpoint_volume_key, has_local_storage, tag_list
from stacks.lambda_environment import tags_environment

# The KMS rights SageMaker needs from the role that creates a job or endpoint using the key: it creates
# a grant for the instance's volume.
KEY_GRANT_ACTIONS = ("kms:CreateGrant", "kms:DescribeKey")


@dataclass(frozen=True, kw_only=True)
class PlatformOptions:
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    network: NetworkConfig = field(default_factory=NetworkConfig)
    kms_key_arn: str | None = None

    @classmethod
    def of(cls, config: DeploymentConfig) -> PlatformOptions:
        return cls(tags=config.tags, network=config.network, kms_key_arn=config.kms_key_arn)

    def vpc_config(self) -> dict[str, list[str]] | None:
        if not self.network.in_vpc:
            return None
        return {
            "SecurityGroupIds": list(self.network.security_group_ids),
            "Subnets": list(self.network.subnet_ids),
        }

    def environment(self) -> dict[str, str]:
        """The endpoint creators' variables (docs/internals.md): the tags for the endpoints they create."""
        return tags_environment(self.tags)

    # --- SageMaker API requests of the training pipeline ---------------------------------------------

    def training_job(self, request: Mapping[str, object], *, model: ModelConfig) -> dict[str, object]:
        """``request`` (a CreateTrainingJob request) with the VPC, key and tags added."""
        request = copy.deepcopy(dict(request))
        vpc = self.vpc_config()
        if vpc is not None:
            request["VpcConfig"] = vpc
        if self.kms_key_arn is not None:
            request["OutputDataConfig"] = {**request["OutputDataConfig"], "KmsKeyId": self.kms_key_arn}
            if not has_local_storage(model.training.instance_type):
                request["ResourceConfig"] = {**request["ResourceConfig"], "VolumeKmsKeyId": self.kms_key_arn}
        if self.tags:
            request["Tags"] = tag_list(self.tags)
        return request

    def model_request(self, parameters: Mapping[str, object]) -> dict[str, object]:
        """A CreateModel request with the VPC and tags added."""
        parameters = dict(parameters)
        vpc = self.vpc_config()
        if vpc is not None:
            parameters["VpcConfig"] = vpc
        if self.tags:
            parameters["Tags"] = tag_list(self.tags)
        return parameters

    def endpoint_key(self, model: ModelConfig) -> str | None:
        """The key for the endpoint's storage volume, where SageMaker accepts one."""
        return endpoint_volume_key(self.kms_key_arn, model)

    def endpoint_config_request(self, parameters: Mapping[str, object], *, model: ModelConfig) -> dict:
        """A CreateEndpointConfig request with the storage key and tags added."""
        parameters = dict(parameters)
        key = self.endpoint_key(model)
        if key is not None:
            parameters["KmsKeyId"] = key
        if self.tags:
            parameters["Tags"] = tag_list(self.tags)
        return parameters

    # --- grants ---------------------------------------------------------------------------------------

    def key(self, scope: Construct) -> kms.IKey | None:
        if self.kms_key_arn is None:
            return None
        stack = Stack.of(scope)
        existing = stack.node.try_find_child("PlatformKey")
        return existing or kms.Key.from_key_arn(stack, "PlatformKey", self.kms_key_arn)

    def grant_volume_keys(self, scope: Construct, *principals: iam.IGrantable) -> None:
        """Roles that create jobs or endpoints whose volumes the key encrypts (CreateGrant)."""
        key = self.key(scope)
        if key is None:
            return
        for principal in principals:
            _grant_for_aws_resource(key, principal)

    def grant_execution_role(self, scope: Construct, role: iam.IRole) -> None:
        """The SageMaker execution role reads and writes data encrypted with the key, and its volumes."""
        key = self.key(scope)
        if key is None:
            return
        key.grant(role, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
        _grant_for_aws_resource(key, role)
        # The bucket's own read/write grants add CDK's KMS action groups for the bucket's key.
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="CDK's S3 grants on a KMS-encrypted bucket add these action groups, limited to "
                    "the configured key (kms_key_arn)",
                    applies_to=["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"],
                )
            ],
            apply_to_children=True,
        )

    def grant_tagging(self, role: iam.IGrantable, resources: Iterable[str]) -> None:
        """Creating a tagged SageMaker resource also needs sagemaker:AddTags on it."""
        resources = list(resources)
        if self.tags and resources:
            role.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(actions=["sagemaker:AddTags"], resources=resources)
            )

    def apply(self, app: Construct, *, stacks: Iterable[Stack]) -> None:
        """Tags on every resource of ``app``; the network and key on ``stacks``' SageMaker resources."""
        for name in sorted(self.tags):
            Tags.of(app).add(name, self.tags[name])
        for stack in stacks:
            Aspects.of(stack).add(SageMakerPlatformAspect(self), priority=AspectPriority.MUTATING)


def _grant_for_aws_resource(key: kms.IKey, principal: iam.IGrantable) -> None:
    principal.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(KEY_GRANT_ACTIONS),
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
    )


@jsii.implements(IAspect)
class SageMakerPlatformAspect:
    """The VPC on CloudFormation's SageMaker models, the key on their endpoint configs."""

    def __init__(self, options: PlatformOptions) -> None:
        self._options = options

    def visit(self, node: IConstruct) -> None:
        options = self._options
        if isinstance(node, sagemaker.CfnModel):
            vpc = options.vpc_config()
            if vpc is not None:
                node.vpc_config = sagemaker.CfnModel.VpcConfigProperty(
                    security_group_ids=vpc["SecurityGroupIds"], subnets=vpc["Subnets"]
                )
        elif isinstance(node, sagemaker.CfnEndpointConfig) and options.kms_key_arn is not None:
            variants = node.production_variants
            if all(_accepts_key(v) for v in variants):
                node.kms_key_id = options.kms_key_arn


def _accepts_key(variant: object) -> bool:
    if getattr(variant, "serverless_config", None) is not None:
        return False
    instance_type = getattr(variant, "instance_type", None)
    return isinstance(instance_type, str) and not has_local_storage(instance_type)


# A deployment without platform options (the default where a construct takes them).
NO_PLATFORM_OPTIONS = PlatformOptions()
