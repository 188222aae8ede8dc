"""The deployment's AWS resources, created in moto from the CDK app's own config dataclasses.

Names come from ``stacks.naming`` (what the CDK app and the pipeline use); what CloudFormation would
name on AWS gets a fixed local name here. The local stack plays the training pipeline's last step too:
it uploads each trained model as ``model.tar.gz`` and creates its SageMaker model and endpoint
configuration, which the invoker then finds in ``MODELS``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_code.package import write_archive
from stacks.config import DeploymentConfig, ModelConfig
from stacks.instance_storage import endpoint_volume_key, tag_list
from stacks.jobs_environment import JOB_VISIBILITY_SECONDS, JobRetry, jobs_environment
from stacks.lambda_environment import ServedModel, lambda_environment, lambda_served, operator_options
from stacks.naming import content_name, endpoint_prefix, idle_rule_name, sagemaker_base

from .aws import ACCOUNT_ID, REGION

SERVING_IMAGE = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/seqserve-serving:local"
SAGEMAKER_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/seqserve-sagemaker-local"
VARIANT = "AllTraffic"
# stacks/storage.py's ARTIFACT_PREFIX (that module imports aws_cdk, which the local stack does not load).
ARTIFACT_PREFIX = "artifacts/"
# Locally a waiting job is retried within seconds, so a test or a demo sees it run soon after the wake.
LOCAL_JOB_RETRY = JobRetry(first_seconds=1, max_seconds=2, max_attempts=40)


@dataclass(frozen=True, kw_only=True)
class DeployedModel:
    config: ModelConfig
    model_dir: Path
    endpoint_name: str
    endpoint_config_name: str
    model_data_url: str


@dataclass(frozen=True, kw_only=True)
class Deployment:
    bucket: str
    table: str
    rule_name: str
    topic_arn: str
    models: Mapping[str, DeployedModel]
    config: DeploymentConfig
    history_table: str | None = None
    jobs_table: str
    jobs_queue_url: str
    jobs_dead_letter_url: str
    job_retry: JobRetry
    # The service stack's name: DEPLOYMENT_NAME, the ownership tag's value on the endpoints it creates.
    deployment: str = ""

    def serving_function(self, name: str) -> str | None:
        """The local name of the model's Lambda-hosted model (issue 21), where lambda_served gives it one."""
        if not lambda_served(self.models[name].config):
            return None
        return f"{self.deployment or 'seqserve'}-{name}-serving"

    def lambda_environment(self) -> dict[str, str]:
        """The variables the CDK app sets on both Lambdas, built by the same function."""
        served = [
            ServedModel(
                name=name,
                preset=model.config.preset,
                mode=model.config.serving.mode,
                endpoint_name=model.endpoint_name,
                endpoint_config_name=model.endpoint_config_name,
                idle_minutes=model.config.serving.idle_minutes,
                max_wake_minutes=model.config.serving.max_wake_minutes,
                serving_function=self.serving_function(name),
                **operator_options(model.config.serving),
            )
            for name, model in self.models.items()
        ]
        return {
            **lambda_environment(
                table_name=self.table,
                models=served,
                topic_arn=self.topic_arn,
                endpoint_prefix=endpoint_prefix(self.config.prefix),
                api=self.config.api,
                history_table=self.history_table,
                deployment=self.deployment or None,
            ),
            **jobs_environment(
                table_name=self.jobs_table,
                bucket_name=self.bucket,
                queue_url=self.jobs_queue_url,
                retry=self.job_retry,
            ),
        }


def model_archive(model_dir: Path) -> bytes:
    """``model.tar.gz`` as ``python -m model_code.package`` writes it; PackageError names what is missing."""
    with tempfile.TemporaryDirectory(prefix="seqserve-archive-") as scratch:
        return write_archive(model_dir=model_dir, output=Path(scratch) / "model.tar.gz").read_bytes()


def _schedule(minutes: int) -> str:
    return f"rate({minutes} minute{'s' if minutes > 1 else ''})"


def _endpoint_name(base: str, model: ModelConfig) -> str:
    """As stacks/serving.py names it: an always_on endpoint's name changes with its instance type."""
    if model.serving.mode == "always_on":
        return content_name(base, model.serving.instance_type)
    return base


def _endpoint_config_platform(config: DeploymentConfig, model: ModelConfig) -> dict[str, Any]:
    """The platform's key and tags on an endpoint configuration, as the pipeline's requests carry them."""
    extra: dict[str, Any] = {}
    key = endpoint_volume_key(config.kms_key_arn, model)
    if key is not None:
        extra["KmsKeyId"] = key
    if config.tags:
        extra["Tags"] = tag_list(config.tags)
    return extra


def create_deployment(
    *, clients: Mapping[str, Any], config: DeploymentConfig, stack_name: str, model_dirs: Mapping[str, Path]
) -> Deployment:
    """Create bucket, table, topic, rule, and per model the artifact, SageMaker model and configuration."""
    bucket = f"{stack_name.lower()}-artifacts-{ACCOUNT_ID}"
    table = f"{stack_name}-state"
    rule_name = idle_rule_name(stack_name)
    clients["s3"].create_bucket(Bucket=bucket)
    clients["dynamodb"].create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    history = f"{stack_name}-history"
    clients["dynamodb"].create_table(
        TableName=history,
        KeySchema=[
            {"AttributeName": "model", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "model", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    clients["dynamodb"].update_time_to_live(
        TableName=history, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    jobs_table = f"{stack_name}-jobs"
    clients["dynamodb"].create_table(
        TableName=jobs_table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dead_letter_url = clients["sqs"].create_queue(QueueName=f"{stack_name}-jobs-dlq")["QueueUrl"]
    dead_letter_arn = clients["sqs"].get_queue_attributes(
        QueueUrl=dead_letter_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": LOCAL_JOB_RETRY.dead_letter_after}
    jobs_queue_url = clients["sqs"].create_queue(
        QueueName=f"{stack_name}-jobs",
        Attributes={"VisibilityTimeout": str(JOB_VISIBILITY_SECONDS), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    topic_arn = clients["sns"].create_topic(Name=f"{stack_name}-lifecycle")["TopicArn"]
    on_demand = [config.model(name) for name in model_dirs if config.model(name).serving.mode == "on_demand"]
    every = min((model.serving.check_every_minutes for model in on_demand), default=5)
    # Enabled, as the CDK app deploys it: the idle check runs on its schedule whatever the models' states.
    clients["events"].put_rule(Name=rule_name, ScheduleExpression=_schedule(every), State="ENABLED")
    models = {}
    for name, model_dir in model_dirs.items():
        model_config = config.model(name)
        base = sagemaker_base(stack_name, name)
        resource_name = f"{base}-local"
        # Where the pipeline's training job writes it (OutputDataConfig under stacks/storage.py's
        # ARTIFACT_PREFIX), so the invoker's read grant on the artifacts covers it here as on AWS.
        key = f"{ARTIFACT_PREFIX}{name}/{resource_name}/output/model.tar.gz"
        clients["s3"].put_object(Bucket=bucket, Key=key, Body=model_archive(model_dir))
        data_url = f"s3://{bucket}/{key}"
        clients["sagemaker"].create_model(
            ModelName=resource_name,
            ExecutionRoleArn=SAGEMAKER_ROLE,
            PrimaryContainer={"Image": SERVING_IMAGE, "ModelDataUrl": data_url, "Mode": "SingleModel"},
        )
        clients["sagemaker"].create_endpoint_config(
            EndpointConfigName=resource_name,
            ProductionVariants=[
                {
                    "VariantName": VARIANT,
                    "ModelName": resource_name,
                    "InstanceType": model_config.serving.instance_type,
                    "InitialInstanceCount": model_config.serving.min_instances,
                }
            ],
            **_endpoint_config_platform(config, model_config),
        )
        endpoint_name = _endpoint_name(base, model_config)
        if model_config.serving.mode != "on_demand":
            # Serverless and always_on endpoints are CloudFormation's (stacks/serving.py): there from the
            # deployment on, with the app's tags.
            tags = _endpoint_config_platform(config, model_config).get("Tags", [])
            clients["sagemaker"].create_endpoint(
                EndpointName=endpoint_name, EndpointConfigName=resource_name, Tags=tags
            )
        models[name] = DeployedModel(
            config=model_config,
            model_dir=model_dir,
            endpoint_name=endpoint_name,
            endpoint_config_name=resource_name,
            model_data_url=data_url,
        )
    return Deployment(
        bucket=bucket,
        table=table,
        rule_name=rule_name,
        topic_arn=topic_arn,
        models=models,
        config=config,
        history_table=history,
        jobs_table=jobs_table,
        jobs_queue_url=jobs_queue_url,
        jobs_dead_letter_url=dead_letter_url,
        job_retry=LOCAL_JOB_RETRY,
        deployment=stack_name,
    )
