"""The training pipeline state machine: job request from config, then model, config, record, notify."""

from __future__ import annotations

import json

from tests.unit.stacks.template_text import (
    actions_on,
    logical_id_of,
    state_machine_definition,
    statements,
)

SAGEMAKER = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}"


def definition(built, model: str) -> dict:
    return state_machine_definition(built.service.to_json(), f"Model-{model}/Training/StateMachine")


def test_happy_path_trains_then_creates_model_config_records_and_notifies(full):
    states = definition(full, "circrna")["States"]
    order, name = [], definition(full, "circrna")["StartAt"]
    while name in states and "Next" in states[name]:
        order.append(name)
        name = states[name]["Next"]
    order.append(name)
    assert order == [
        "NameRun",
        "FindTestData",
        "TestData?",
    ]
    choice = states["TestData?"]
    assert choice["Choices"] == [
        {"Variable": "$.test_data.count", "NumericGreaterThan": 0, "Next": "WithTestChannel"}
    ]
    assert choice["Default"] == "WithoutTestChannel"
    assert states["WithTestChannel"]["Next"] == states["WithoutTestChannel"]["Next"] == "Train"
    order, name = [], "Train"
    while name in states and "Next" in states[name]:
        order.append(name)
        name = states[name]["Next"]
    order.append(name)
    assert order == [
        "Train",
        "CreateModel",
        "CreateEndpointConfig",
        "RecordEndpointConfig",
        "EndpointAwake?",
    ]
    choice = states["EndpointAwake?"]
    assert choice["Choices"] == [
        {"Variable": "$.item.state", "StringEquals": "awake", "Next": "UpdateAwakeEndpoint"}
    ]
    assert choice["Default"] == "DeleteOldVersions"
    assert states["UpdateAwakeEndpoint"]["Next"] == "DeleteOldVersions"
    assert states["DeleteOldVersions"]["Next"] == "NotifyTrained"
    assert states["NotifyTrained"]["End"] is True


def test_every_step_notifies_on_failure_then_fails(full):
    states = definition(full, "circrna")["States"]
    for step in ("Train", "CreateModel", "CreateEndpointConfig", "RecordEndpointConfig"):
        (catch,) = states[step]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "NotifyFailed", step
    assert states["NotifyFailed"]["Next"] == "Failed"
    assert states["Failed"]["Type"] == "Fail"
    message = states["NotifyFailed"]["Parameters"]["Message"]
    assert message["event"] == "training_failed" and message["error.$"] == "$.error.Error"


def test_training_job_uses_the_regional_pytorch_image_preset_and_model_code_asset(full):
    job = definition(full, "circrna")["States"]["Train"]
    assert job["Resource"] == "arn:${AWS::Partition}:states:::sagemaker:createTrainingJob.sync"
    request = job["Parameters"]
    assert request["TrainingJobName.$"] == "States.Format('{}-{}', 'seqserve-service-circrna', $.run.id)"
    image = request["AlgorithmSpecification"]["TrainingImage"]
    assert image == "${Map:PyTorchTrainingImageRegistry.${AWS::Region}.TrainingCpu}"
    hyperparameters = {k: json.loads(v) for k, v in request["HyperParameters"].items()}
    assert hyperparameters["sagemaker_program"] == "train.py"
    assert hyperparameters["preset"] == "circrna"
    assert hyperparameters["sagemaker_submit_directory"].startswith("s3://cdk-")
    assert hyperparameters["sagemaker_submit_directory"].endswith(".gz")
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 240 * 60}
    assert "EnableManagedSpotTraining" not in request and "CheckpointConfig" not in request
    assert request["InputDataConfig.$"] == "$.channels"
    assert request["OutputDataConfig"]["S3OutputPath"].endswith("/artifacts/circrna/")


def test_metric_definitions_come_from_model_code(full):
    from model_code.training.metrics import METRIC_DEFINITIONS

    request = definition(full, "circrna")["States"]["Train"]["Parameters"]
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == [dict(d) for d in METRIC_DEFINITIONS]
    assert request["AlgorithmSpecification"]["MetricDefinitions"]


def test_spot_training_on_gpu_checkpoints_and_waits(full):
    request = definition(full, "proteins")["States"]["Train"]["Parameters"]
    assert request["AlgorithmSpecification"]["TrainingImage"] == (
        "${Map:PyTorchTrainingImageRegistry.${AWS::Region}.TrainingGpu}"
    )
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 14400}
    checkpoint = request["CheckpointConfig"]["S3Uri.$"]
    assert (
        checkpoint.startswith("States.Format('s3://${Import:")
        and "/checkpoints/proteins/{}/', $.run.id)" in checkpoint
    )
    hyperparameters = {k: json.loads(v) for k, v in request["HyperParameters"].items()}
    assert (hyperparameters["epochs"], hyperparameters["warmup_ratio"], hyperparameters["preset"]) == (
        "3",
        "0.1",
        "protein-localization",
    )


def test_endpoint_configuration_follows_the_serving_mode(full):
    on_demand = definition(full, "circrna")["States"]["CreateEndpointConfig"]["Parameters"]
    (variant,) = on_demand["ProductionVariants"]
    assert variant["InstanceType"] == "ml.m5.large" and variant["InitialInstanceCount"] == 1
    assert variant["ModelName.$"] == "States.Format('seqserve-service-circrna-{}', $.run.id)"
    serverless = definition(full, "proteins")["States"]["CreateEndpointConfig"]["Parameters"]
    (variant,) = serverless["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 4}
    assert "InstanceType" not in variant


def test_cloudformation_owned_endpoints_are_not_updated_by_the_pipeline(full):
    for model in ("proteins", "specialty"):
        states = definition(full, model)["States"]
        assert "UpdateAwakeEndpoint" not in states
        assert states["RecordEndpointConfig"]["Next"] == "DeleteOldVersions"


def test_record_keeps_lifecycle_state_and_writes_the_new_configuration(full):
    record = definition(full, "circrna")["States"]["RecordEndpointConfig"]["Parameters"]
    assert record["Key"] == {"model": {"S": "circrna"}}
    assert "endpoint_config_name = :config" in record["UpdateExpression"]
    assert "#state = if_not_exists(#state, :asleep)" in record["UpdateExpression"]
    assert record["ExpressionAttributeValues"][":config"] == {
        "S.$": "States.Format('seqserve-service-circrna-{}', $.run.id)"
    }


def test_state_machine_logs_everything_and_traces(full):
    template = full.service.to_json()
    logical_id = logical_id_of(template, "AWS::StepFunctions::StateMachine", "Model-circrna/Training")
    properties = template["Resources"][logical_id]["Properties"]
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"


def test_pipeline_role_acts_only_on_this_models_names(full):
    template = full.service.to_json()
    role = logical_id_of(template, "AWS::IAM::Role", "Model-circrna/Training/StateMachine/Role")
    allowed = actions_on(statements(template, role))
    prefix = f"{SAGEMAKER}:"
    for action in ("createtrainingjob", "describetrainingjob", "stoptrainingjob", "addtags"):
        assert allowed[f"sagemaker:{action}"] == {f"{prefix}training-job/seqserve-service-circrna-*"}
    assert allowed["sagemaker:createmodel"] == {f"{prefix}model/seqserve-service-circrna-*"}
    assert allowed["sagemaker:createendpointconfig"] == {
        f"{prefix}endpoint-config/seqserve-service-circrna-*"
    }
    assert allowed["sagemaker:updateendpoint"] == {
        f"{prefix}endpoint/seqserve-service-circrna",
        f"{prefix}endpoint-config/seqserve-service-circrna-*",
    }
    execution_role = logical_id_of(template, "AWS::IAM::Role", "Model-circrna/ExecutionRole/Role")
    assert allowed["iam:passrole"] == {f"${{{execution_role}.Arn}}"}
    (table,) = allowed["dynamodb:updateitem"]
    assert table.endswith(":table/${Import:seqserve-stateful:ExportsOutputRefStateTableB9CBD53A}")
    assert allowed["sns:publish"] == {"${NotificationsTopicAE679CBD}"}
    # The topic is encrypted with its own key: publishing needs the key too.
    (key,) = full.service.find_resources("AWS::KMS::Key")
    for action in ("kms:generatedatakey*", "kms:decrypt"):
        assert allowed[action] == {f"${{{key}.Arn}}"}, action
    # Only actions without resource-level permissions may use "*": X-Ray, the log delivery API, and the
    # ListTags that Step Functions' own policy for createTrainingJob.sync grants on "*".
    unscoped = {action for action, resources in allowed.items() if "*" in resources}
    assert unscoped and all(
        action.split(":")[0] in ("xray", "logs") or action == "sagemaker:listtags" for action in unscoped
    )


def test_execution_role_reaches_only_this_models_prefixes_and_the_two_images(full):
    template = full.service.to_json()
    role = logical_id_of(template, "AWS::IAM::Role", "Model-circrna/ExecutionRole/Role")
    allowed = actions_on(statements(template, role))
    bucket = "${Import:seqserve-stateful:ExportsOutputFnGetAttDataBucketArn8D876988}"
    ours = {r.removeprefix(bucket) for r in allowed["s3:getobject*"] if r.startswith(bucket)}
    assert ours == {"", "/data/circrna/*", "/artifacts/circrna/*", "/checkpoints/circrna/*"}
    written = {r.removeprefix(bucket) for r in allowed["s3:putobject"]}
    assert written == {"", "/artifacts/circrna/*", "/checkpoints/circrna/*"}
    (source_bundle,) = [r for r in allowed["s3:getobject*"] if r.startswith("arn:") and r.endswith(".gz")]
    assert source_bundle.startswith("arn:${AWS::Partition}:s3:::cdk-hnb659fds-assets-")
    assert allowed["ecr:batchgetimage"] == {
        "arn:${AWS::Partition}:ecr:${AWS::Region}:${Map:PyTorchTrainingImageRegistry.${AWS::Region}.account}"
        ":repository/pytorch-training",
        "${Import:seqserve-stateful:ExportsOutputFnGetAttServingImageRepositoryArn17829B7E}",
    }
    unscoped = {action for action, resources in allowed.items() if "*" in resources}
    assert unscoped == {"cloudwatch:putmetricdata", "ecr:getauthorizationtoken"}
    principal = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0][
        "Principal"
    ]
    assert principal == {"Service": "sagemaker.amazonaws.com"}


def test_an_endpoint_that_fell_asleep_meanwhile_still_gets_notified(full):
    update = definition(full, "circrna")["States"]["UpdateAwakeEndpoint"]
    assert update["Resource"] == "arn:${AWS::Partition}:states:::aws-sdk:sagemaker:updateEndpoint"
    assert update["Parameters"] == {
        "EndpointName": "seqserve-service-circrna",
        "EndpointConfigName.$": "States.Format('seqserve-service-circrna-{}', $.run.id)",
    }
    (catch,) = update["Catch"]
    assert catch["Next"] == "DeleteOldVersions" and catch["ResultPath"] == "$.update_error"


def test_trained_model_container_accepts_as_many_inputs_as_the_api(full):
    container = definition(full, "circrna")["States"]["CreateModel"]["Parameters"]["PrimaryContainer"]
    assert container["Environment"] == {"SEQSERVE_MAX_INPUTS": "200"}


def test_several_hosts_or_gpus_train_under_torchrun(full):
    def hyperparameters(model):
        request = definition(full, model)["States"]["Train"]["Parameters"]
        return request["ResourceConfig"], {k: json.loads(v) for k, v in request["HyperParameters"].items()}

    # Two GPU hosts: one torchrun across both hosts, one process per GPU (the toolkit counts them).
    resources, proteins = hyperparameters("proteins")
    assert resources["InstanceCount"] == 2
    assert proteins["sagemaker_torch_distributed_enabled"] is True
    # One CPU host: train.py runs as one plain process.
    resources, circrna = hyperparameters("circrna")
    assert resources["InstanceCount"] == 1
    assert "sagemaker_torch_distributed_enabled" not in circrna


def test_the_job_gets_a_test_channel_only_when_the_test_prefix_holds_data(full):
    states = definition(full, "circrna")["States"]
    find = states["FindTestData"]
    assert find["Resource"] == "arn:${AWS::Partition}:states:::aws-sdk:s3:listObjectsV2"
    assert find["Parameters"]["Prefix"] == "data/circrna/test/" and find["Parameters"]["MaxKeys"] == 1
    assert find["ResultSelector"] == {"count.$": "$.KeyCount"}
    assert find["Catch"][0]["Next"] == "NotifyFailed"

    def channels(state):
        return {
            channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"]
            for channel in states[state]["Result"]
        }

    with_test = channels("WithTestChannel")
    assert set(with_test) == {"train", "test"}
    assert with_test["train"].endswith("/data/circrna/train/")
    assert with_test["test"].endswith("/data/circrna/test/")
    assert set(channels("WithoutTestChannel")) == {"train"}
    assert states["WithTestChannel"]["ResultPath"] == "$.channels"
    template = full.service.to_json()
    role = logical_id_of(template, "AWS::IAM::Role", "Model-circrna/Training/StateMachine/Role")
    (bucket,) = actions_on(statements(template, role))["s3:listbucket"]
    assert bucket == "${Import:seqserve-stateful:ExportsOutputFnGetAttDataBucketArn8D876988}"
