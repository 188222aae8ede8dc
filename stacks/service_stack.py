"""The stateless stack: serving image, per-model pipelines and serving, Lambdas, API, schedule, monitoring."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnOutput, Stack, Stage, Tags
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from lambdas.seqserve_common.ownership import DEPLOYMENT_TAG
from stacks.api import PredictionApi
from stacks.awake_alarm import awake_alarm
from stacks.config import DeploymentConfig
from stacks.container_environment import container_environment
from stacks.endpoint_teardown import EndpointTeardown
from stacks.execution_role import ModelExecutionRole
from stacks.functions import ServiceFunctions, check_final_environments
from stacks.idle_shutdown import IdleShutdown
from stacks.job_queue import JobQueue
from stacks.lambda_environment import ServedModel, lambda_served, operator_options
from stacks.model_cleanup import ModelCleanup
from stacks.model_function import ModelServingFunction
from stacks.model_server_asset import stage_model_server
from stacks.monitoring import ModelMonitoring, api_error_rate_alarm, reconciler_alarms
from stacks.naming import api_name, endpoint_prefix, idle_rule_name, sagemaker_base
from stacks.notifications import Notifications
from stacks.platform import PlatformOptions
from stacks.serving import ModelServing
from stacks.serving_image import ServingImages
from stacks.source_bundle import build_source_tarball
from stacks.storage import ARTIFACT_PREFIX, Storage
from stacks.training_image import registry_account, training_image_uri
from stacks.training_pipeline import TrainingPipeline

MODEL_CODE = Path(__file__).resolve().parent.parent / "model_code"


@dataclass(frozen=True, kw_only=True)
class ModelResources:
    execution_role: ModelExecutionRole
    serving: ModelServing
    pipeline: TrainingPipeline


class ServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        storage: Storage,
        metric_definitions: Sequence[Mapping[str, str]],
        model_code: Path = MODEL_CODE,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        notifications = Notifications(self, "Notifications", email=config.notify_email)
        images = ServingImages(self, "ServingImages", model_code=model_code, repository=storage.repository)
        self.images = images
        bundle_path = build_source_tarball(
            source=model_code, destination=Path(Stage.of(self).outdir) / ".build" / "sourcedir.tar.gz"
        )
        source_bundle = s3_assets.Asset(self, "TrainingSource", path=str(bundle_path))

        self.auth = config.api.auth
        self.kms_key_arn = config.kms_key_arn
        platform = PlatformOptions.of(config)
        cleanup = ModelCleanup(self, "PipelineCleanup", table=storage.table)
        cleanup.suppress_findings()
        self.models: dict[str, ModelResources] = {}
        served: list[ServedModel] = []
        # The Lambda-hosted models (issue 21): one function each, one staged asset for all of them.
        self.model_functions: dict[str, ModelServingFunction] = {}
        model_server_code = (
            lambda_.Code.from_asset(
                str(stage_model_server(Path(Stage.of(self).outdir) / ".build" / "model-server"))
            )
            if any(lambda_served(model) for model in config.models)
            else None
        )
        for model in config.models:
            base = sagemaker_base(self.stack_name, model.name)
            scope_ = Construct(self, f"Model-{model.name}")
            image = training_image_uri(self, gpu=model.training.uses_gpu)
            variant = "gpu" if model.serving.uses_gpu else "cpu"
            variant += "-onnx" if model.serving.runtime == "onnx" else ""
            serving_image_uri = images.uri(variant)
            role = ModelExecutionRole(
                scope_,
                "ExecutionRole",
                model_name=model.name,
                bucket=storage.bucket,
                serving_repository=storage.repository,
                training_registry_account=registry_account(self),
                in_vpc=config.network.in_vpc,
            )
            serving = ModelServing(
                scope_,
                "Serving",
                model=model,
                endpoint_name=base,
                image_uri=serving_image_uri,
                image_copy=images.copies[variant],
                execution_role=role.role,
                table=storage.table,
                container_environment=container_environment(config.api),
            )
            pipeline = TrainingPipeline(
                scope_,
                "Training",
                model=model,
                base=base,
                training_image_uri=image,
                serving_image_uri=serving_image_uri,
                execution_role=role.role,
                bucket=storage.bucket,
                table=storage.table,
                notifications=notifications,
                source_bundle=source_bundle,
                metric_definitions=metric_definitions,
                container_environment=container_environment(config.api),
                platform=platform,
                cleanup=cleanup,
            )
            platform.grant_execution_role(self, role.role)
            if serving.endpoint is not None:
                # CloudFormation's endpoints (always_on, serverless) carry the ownership tag too, so a
                # deployment sharing the prefix sees them as this deployment's, not as untagged.
                Tags.of(serving.endpoint).add(DEPLOYMENT_TAG, self.stack_name)
            if model_server_code is not None and lambda_served(model):
                self.model_functions[model.name] = ModelServingFunction(
                    scope_,
                    "LambdaServing",
                    model=model,
                    code=model_server_code,
                    name_base=base,
                    endpoint_config_name=serving.endpoint_config_name,
                    table=storage.table,
                    bucket=storage.bucket,
                    api=config.api,
                )
            model_function = self.model_functions.get(model.name)
            served.append(
                ServedModel(
                    name=model.name,
                    preset=model.preset,
                    mode=model.serving.mode,
                    endpoint_name=serving.endpoint_name,
                    endpoint_config_name=serving.endpoint_config_name,
                    idle_minutes=model.serving.idle_minutes,
                    max_wake_minutes=model.serving.max_wake_minutes,
                    sagemaker_base=base,
                    serving_function=None
                    if model_function is None
                    else model_function.function.function_name,
                    **operator_options(model.serving),
                )
            )
            self.models[model.name] = ModelResources(execution_role=role, serving=serving, pipeline=pipeline)
            CfnOutput(
                scope_,
                "TrainingStateMachine",
                value=pipeline.state_machine.state_machine_arn,
                description=f"start training of model {model.name}: aws stepfunctions start-execution",
            )

        rule_name = idle_rule_name(self.stack_name)
        functions = ServiceFunctions(
            self,
            "Functions",
            models=tuple(served),
            table=storage.table,
            notifications=notifications,
            endpoint_prefix=endpoint_prefix(config.prefix),
            api=config.api,
            history=storage.history,
            tag_keys=tuple(config.tags),
        )
        # A new always_on endpoint (new instance type) is in service before the invoker switches to it.
        for resources in self.models.values():
            if resources.serving.endpoint is not None:
                functions.invoker.node.add_dependency(resources.serving.endpoint)
        cleanup.use_layer(functions.powertools)
        for model_function in self.model_functions.values():
            # The invoker answers through the function while the model's endpoint wakes.
            model_function.grant_invoke(functions.invoker)
        # Every function that creates endpoints (the invoker's wakes, the reconciler's, the job runner's)
        # tags them and lets SageMaker use the key for their volumes; the tagging grant is
        # ServiceFunctions' (the ownership tag goes on every endpoint, cdk.json tags or not).
        creators = (functions.invoker, functions.idle_checker, functions.job_runner)
        for creator in creators:
            for name, value in platform.environment().items():
                creator.add_environment(name, value)
        platform.grant_volume_keys(self, *creators)
        # The invoker reads evaluation.json and the confusion matrix from the served artifact.
        storage.bucket.grant_read(functions.invoker, f"{ARTIFACT_PREFIX}*")
        on_demand = config.on_demand_models or config.models
        idle_shutdown = IdleShutdown(
            self,
            "IdleShutdown",
            rule_name=rule_name,
            every_minutes=min(m.serving.check_every_minutes for m in on_demand),
            checker=functions.idle_checker,
        )
        # cdk destroy while a model is awake: the endpoints the functions created go too (README,
        # "Tearing down"); the creators and the schedule are deleted before it runs.
        teardown = EndpointTeardown(
            self,
            "EndpointTeardown",
            deployment=functions.deployment,
            endpoint_prefix=functions.endpoint_prefix,
            layer=functions.powertools,
        )
        teardown.suppress_findings()
        teardown.runs_after(*creators, idle_shutdown.rule)
        JobQueue(
            self,
            "JobQueue",
            invoker=functions.invoker,
            runner=functions.job_runner,
            state_table=storage.table,
            jobs_table=storage.jobs_table,
            bucket=storage.bucket,
            topic=notifications.topic,
        )
        api = PredictionApi(
            self, "Api", config=config.api, handler=functions.invoker, name=api_name(config.prefix)
        )
        api_alarm = api_error_rate_alarm(self, "ApiServerErrorRate", api=api.api, topic=notifications.topic)
        reconciler_alarms(self, "Reconciler", checker=functions.idle_checker, topic=notifications.topic)
        for model, spec in zip(config.models, served, strict=True):
            ModelMonitoring(
                self.node.find_child(f"Model-{model.name}"),
                "Monitoring",
                model=model,
                endpoint_name=spec.endpoint_name,
                api=api.api,
                state_machine=self.models[model.name].pipeline.state_machine,
                topic=notifications.topic,
                api_alarm=api_alarm,
            )
            awake_alarm(
                self.node.find_child(f"Model-{model.name}"),
                "AwakeTooLong",
                model=model,
                topic=notifications.topic,
            )
        CfnOutput(self, "NotificationTopic", value=notifications.topic.topic_arn)
        # Lambda's 4 KB, on what the functions finally get (jobs and tags variables included).
        check_final_environments(functions, model_count=len(config.models))
        self.api = api
        self.functions = functions
        self.notifications = notifications
