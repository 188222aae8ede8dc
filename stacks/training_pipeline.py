"""The training pipeline of one model: a Step Functions state machine.

find test data (a non-empty data/<model>/test/ becomes the job's ``test`` channel) -> train
(SageMaker training job, .sync; torchrun across hosts and GPUs) -> create model -> create endpoint
configuration -> record the configuration in the state table -> (on_demand, endpoint awake) update
the endpoint -> notify.
Any failure notifies too and fails the execution. Every SageMaker name is ``<base>-<run uuid>`` so the
IAM policies can be scoped to ``<base>-*``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.config import ModelConfig
from stacks.functions import sagemaker_arn, tagged_by
from stacks.model_cleanup import ModelCleanup, suppress_invoke_finding
from stacks.notifications import Notifications
from stacks.platform import NO_PLATFORM_OPTIONS, PlatformOptions
from stacks.serving import VARIANT
from stacks.storage import ARTIFACT_PREFIX, CHECKPOINT_PREFIX, DATA_PREFIX

TRAIN_ENTRY = "train.py"
RUN_NAME = "States.Format('{}-{}', '%s', $.run.id)"
# SageMaker's own rule that .sync training tasks use to learn that a job finished.
SYNC_RULE = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
TORCH_DISTRIBUTED = "sagemaker_torch_distributed_enabled"
# The execution's channel list: train, plus test when data/<model>/test/ holds anything.
CHANNELS_PATH = "$.channels"
VENDED_LOGS = "/aws/vendedlogs/states/"


def state_machine_log_group(base: str) -> str:
    """Under /aws/vendedlogs/: CloudWatch Logs then authorizes Step Functions' log delivery without
    adding this group to the account's logs resource policy, which is capped at 5,120 characters for
    all deployments together."""
    return f"{VENDED_LOGS}{base}-training"


def uses_torchrun(model: ModelConfig) -> bool:
    """Several hosts, or GPUs (one process per GPU): the toolkit starts train.py under torchrun.

    The SageMaker SDK's ``distribution={"torch_distributed": {"enabled": True}}`` is this hyperparameter;
    the PyTorch training toolkit then runs ``torchrun --nnodes <hosts> --nproc_per_node <GPUs per host>``
    with the master address and node rank of each host. Without it, every host runs its own independent
    training and a multi-GPU host trains on one GPU.
    """
    return model.training.instance_count > 1 or model.training.uses_gpu


def training_hyperparameters(*, model: ModelConfig, submit_directory: str, region: str) -> dict[str, str]:
    """Hyperparameters JSON-encoded as the SageMaker SDK does, so the toolkit decodes every value."""
    values: Mapping[str, object] = {
        "sagemaker_program": TRAIN_ENTRY,
        "sagemaker_submit_directory": submit_directory,
        "sagemaker_region": region,
        **({TORCH_DISTRIBUTED: True} if uses_torchrun(model) else {}),
        "preset": model.preset,
        **model.training.hyperparameters,
    }
    return {name: json.dumps(value) for name, value in values.items()}


def data_channel(*, name: str, bucket_name: str, model: ModelConfig) -> dict[str, object]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"s3://{bucket_name}/{data_prefix(model, name)}",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def data_prefix(model: ModelConfig, channel: str) -> str:
    return f"{DATA_PREFIX}{model.name}/{channel}/"


def training_job_request(
    *,
    model: ModelConfig,
    base: str,
    image_uri: str,
    role_arn: str,
    bucket_name: str,
    submit_directory: str,
    metric_definitions: Sequence[Mapping[str, str]],
) -> dict[str, object]:
    training = model.training
    request: dict[str, object] = {
        "TrainingJobName.$": RUN_NAME % base,
        "AlgorithmSpecification": {
            "TrainingImage": image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(d) for d in metric_definitions],
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "HyperParameters": training_hyperparameters(
            model=model, submit_directory=submit_directory, region=Aws.REGION
        ),
        # Chosen by the execution: SageMaker fails a job whose channel prefix holds no object.
        "InputDataConfig.$": CHANNELS_PATH,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket_name}/{ARTIFACT_PREFIX}{model.name}/"},
        "ResourceConfig": {
            "InstanceType": training.instance_type,
            "InstanceCount": training.instance_count,
            "VolumeSizeInGB": training.volume_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": training.max_runtime_minutes * 60},
        "RoleArn": role_arn,
    }
    if model.serving.runtime == "onnx":
        # Training exports model.onnx and checks it against torch (model_code.onnx_export).
        request["Environment"] = {"SEQSERVE_EXPORT_FORMAT": "onnx"}
    if training.spot:
        request["EnableManagedSpotTraining"] = True
        request["StoppingCondition"] = {
            "MaxRuntimeInSeconds": training.max_runtime_minutes * 60,
            "MaxWaitTimeInSeconds": training.max_wait_minutes * 60,
        }
        request["CheckpointConfig"] = {
            "S3Uri.$": f"States.Format('s3://{bucket_name}/{CHECKPOINT_PREFIX}{model.name}/{{}}/', $.run.id)",
        }
    return request


def production_variant(model: ModelConfig, *, model_name: str) -> dict[str, object]:
    variant: dict[str, object] = {"VariantName": VARIANT, "ModelName": model_name}
    if model.serving.mode == "serverless":
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": model.serving.memory_mb,
            "MaxConcurrency": model.serving.max_concurrency,
        }
    else:
        variant["InstanceType"] = model.serving.instance_type
        variant["InitialInstanceCount"] = (
            model.serving.min_instances if model.serving.mode == "always_on" else 1
        )
        variant["InitialVariantWeight"] = 1
    return variant


class TrainingPipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: ModelConfig,
        base: str,
        training_image_uri: str,
        serving_image_uri: str,
        execution_role: iam.IRole,
        bucket: s3.IBucket,
        table: dynamodb.ITableV2,
        notifications: Notifications,
        source_bundle: s3_assets.Asset,
        metric_definitions: Sequence[Mapping[str, str]],
        container_environment: Mapping[str, str],
        platform: PlatformOptions = NO_PLATFORM_OPTIONS,
        cleanup: ModelCleanup | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        source_bundle.bucket.grant_read(execution_role, source_bundle.s3_object_key)
        run_name = sfn.JsonPath.format(f"{base}-{{}}", sfn.JsonPath.string_at("$.run.id"))

        prepare = sfn.Pass(self, "NameRun", parameters={"id": sfn.JsonPath.uuid()}, result_path="$.run")
        find_test_data = tasks.CallAwsService(
            self,
            "FindTestData",
            service="s3",
            action="listObjectsV2",
            parameters={"Bucket": bucket.bucket_name, "Prefix": data_prefix(model, "test"), "MaxKeys": 1},
            iam_action="s3:ListBucket",
            iam_resources=[bucket.bucket_arn],
            result_selector={"count": sfn.JsonPath.number_at("$.KeyCount")},
            result_path="$.test_data",
        )
        train_channel = data_channel(name="train", bucket_name=bucket.bucket_name, model=model)
        test_channel = data_channel(name="test", bucket_name=bucket.bucket_name, model=model)
        with_test = sfn.Pass(
            self,
            "WithTestChannel",
            result=sfn.Result.from_array([train_channel, test_channel]),
            result_path=CHANNELS_PATH,
        )
        without_test = sfn.Pass(
            self,
            "WithoutTestChannel",
            result=sfn.Result.from_array([train_channel]),
            result_path=CHANNELS_PATH,
        )
        train = sfn.CustomState(
            self,
            "Train",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:createTrainingJob.sync",
                "Parameters": platform.training_job(
                    training_job_request(
                        model=model,
                        base=base,
                        image_uri=training_image_uri,
                        role_arn=execution_role.role_arn,
                        bucket_name=bucket.bucket_name,
                        submit_directory=source_bundle.s3_object_url,
                        metric_definitions=metric_definitions,
                    ),
                    model=model,
                ),
                "ResultSelector": {
                    "job_name.$": "$.TrainingJobName",
                    "model_data.$": "$.ModelArtifacts.S3ModelArtifacts",
                },
                "ResultPath": "$.training",
            },
        )
        create_model = tasks.CallAwsService(
            self,
            "CreateModel",
            service="sagemaker",
            action="createModel",
            parameters=platform.model_request(
                {
                    "ModelName": run_name,
                    "ExecutionRoleArn": execution_role.role_arn,
                    "PrimaryContainer": {
                        "Image": serving_image_uri,
                        "ModelDataUrl": sfn.JsonPath.string_at("$.training.model_data"),
                        "Environment": dict(container_environment),
                    },
                }
            ),
            iam_resources=[sagemaker_arn(stack, "model", f"{base}-*")],
            additional_iam_statements=[
                iam.PolicyStatement(actions=["iam:PassRole"], resources=[execution_role.role_arn])
            ],
            result_path=sfn.JsonPath.DISCARD,
        )
        create_config = tasks.CallAwsService(
            self,
            "CreateEndpointConfig",
            service="sagemaker",
            action="createEndpointConfig",
            parameters=platform.endpoint_config_request(
                {
                    "EndpointConfigName": run_name,
                    "ProductionVariants": [production_variant(model, model_name=run_name)],
                },
                model=model,
            ),
            iam_resources=[sagemaker_arn(stack, "endpoint-config", f"{base}-*")],
            result_path=sfn.JsonPath.DISCARD,
        )
        record = tasks.DynamoUpdateItem(
            self,
            "RecordEndpointConfig",
            table=table,
            key={"model": tasks.DynamoAttributeValue.from_string(model.name)},
            update_expression=(
                "SET endpoint_config_name = :config, model_data = :data, "
                "#state = if_not_exists(#state, :asleep)"
            ),
            expression_attribute_names={"#state": "state"},
            expression_attribute_values={
                ":config": tasks.DynamoAttributeValue.from_string(run_name),
                ":data": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.string_at("$.training.model_data")
                ),
                ":asleep": tasks.DynamoAttributeValue.from_string("asleep"),
            },
            return_values=tasks.DynamoReturnValues.ALL_NEW,
            result_selector={"state": sfn.JsonPath.string_at("$.Attributes.state.S")},
            result_path="$.item",
        )
        notify_success = tasks.SnsPublish(
            self,
            "NotifyTrained",
            topic=notifications.topic,
            subject=f"seqserve: model {model.name} trained",
            message=sfn.TaskInput.from_object(
                {
                    "model": model.name,
                    "event": "trained",
                    "training_job": sfn.JsonPath.string_at("$.training.job_name"),
                    "model_data": sfn.JsonPath.string_at("$.training.model_data"),
                    "endpoint_config_name": run_name,
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        notify_failure = tasks.SnsPublish(
            self,
            "NotifyFailed",
            topic=notifications.topic,
            subject=f"seqserve: training of model {model.name} failed",
            message=sfn.TaskInput.from_object(
                {
                    "model": model.name,
                    "event": "training_failed",
                    "error": sfn.JsonPath.string_at("$.error.Error"),
                    "cause": sfn.JsonPath.string_at("$.error.Cause"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Fail(self, "Failed", error="TrainingPipelineFailed", cause="see the notification"))

        # Old models and endpoint configurations go once this run's are recorded (serving.keep_configs).
        finish: sfn.IChainable = notify_success
        if cleanup is not None:
            delete_old = cleanup.step(self, "DeleteOldVersions", model=model, base=base, endpoint_name=base)
            delete_old.add_catch(notify_success, result_path="$.cleanup_error")
            finish = delete_old.next(notify_success)
        after_record: sfn.IChainable = finish
        if model.serving.mode == "on_demand":
            update = tasks.CallAwsService(
                self,
                "UpdateAwakeEndpoint",
                service="sagemaker",
                action="updateEndpoint",
                parameters={"EndpointName": base, "EndpointConfigName": run_name},
                iam_resources=[sagemaker_arn(stack, "endpoint-config", f"{base}-*")],
                # The endpoint only if it carries this deployment's tag (the Lambdas create it tagged).
                additional_iam_statements=[
                    iam.PolicyStatement(
                        actions=["sagemaker:updateEndpoint"],
                        resources=[sagemaker_arn(stack, "endpoint", base)],
                        conditions=tagged_by(stack.stack_name),
                    )
                ],
                result_path=sfn.JsonPath.DISCARD,
            )
            # The endpoint may go to sleep meanwhile; the recorded config is then used on the next wake.
            update.add_catch(finish, result_path="$.update_error")
            update.next(finish)
            after_record = (
                sfn.Choice(self, "EndpointAwake?")
                .when(sfn.Condition.string_equals("$.item.state", "awake"), update)
                .otherwise(finish)
            )

        for step in (create_model, create_config, record):
            step.add_catch(notify_failure, result_path="$.error")
        train.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        find_test_data.add_catch(notify_failure, result_path="$.error")
        with_test.next(train)
        without_test.next(train)
        channels = (
            sfn.Choice(self, "TestData?")
            .when(sfn.Condition.number_greater_than("$.test_data.count", 0), with_test)
            .otherwise(without_test)
        )
        train.next(create_model).next(create_config).next(record).next(after_record)
        definition = prepare.next(find_test_data).next(channels)

        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=state_machine_log_group(base),
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.minutes(
                (
                    model.training.max_wait_minutes
                    if model.training.spot
                    else model.training.max_runtime_minutes
                )
                + 60
            ),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment=f"seqserve: train model {model.name} and record its endpoint configuration",
        )
        self._grant_training(stack, base, execution_role)
        platform.grant_tagging(
            self.state_machine,
            [sagemaker_arn(stack, kind, f"{base}-*") for kind in ("model", "endpoint-config")],
        )
        platform.grant_volume_keys(self, self.state_machine)
        if cleanup is not None:
            suppress_invoke_finding(self.state_machine)
        # SnsPublish grants sns:Publish only; the topic's own key must encrypt the message too.
        notifications.grant_publish(self.state_machine)

    def _grant_training(self, stack: Stack, base: str, execution_role: iam.IRole) -> None:
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="RunOwnTrainingJobs",
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=[sagemaker_arn(stack, "training-job", f"{base}-*")],
            )
        )
        # The .sync integration reads the job's tags (Step Functions' generated policy for
        # createTrainingJob.sync grants it on "*").
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(sid="ReadTrainingJobTags", actions=["sagemaker:ListTags"], resources=["*"])
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="WatchTrainingJobs",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[stack.format_arn(service="events", resource="rule", resource_name=SYNC_RULE)],
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassExecutionRole",
                actions=["iam:PassRole"],
                resources=[execution_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
