"""Platform options in the templates: tags everywhere, the VPC, isolation and the KMS key on SageMaker's
resources (CloudFormation's and the pipeline's), their grants, old-version cleanup, the awake alarm."""

from __future__ import annotations

import json

import pytest

from tests.unit.stacks.conftest import Built, build
from tests.unit.stacks.template_text import (
    actions_on,
    as_list,
    logical_id_of,
    state_machine_definition,
    statements,
    text,
)

KEY = "arn:aws:kms:eu-west-1:123456789012:key/12345678-1234-1234-1234-123456789012"
TAGS = {"team": "genomics", "cost-center": "CC 1234"}
TAG_LIST = [{"Key": "cost-center", "Value": "CC 1234"}, {"Key": "team", "Value": "genomics"}]
VPC = {"SecurityGroupIds": ["sg-0123abcd"], "Subnets": ["subnet-0123abcd", "subnet-0123abce"]}
SAGEMAKER = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}"
ARTIFACT = "s3://models-bucket/artifacts/{}/model.tar.gz"

# One CPU endpoint, one GPU with local NVMe storage (no KMS key allowed there), one always_on.
PLATFORM_CONTEXT = {
    "prefix": "corp",
    "models": {
        "circrna": {"preset": "circrna", "serving": {"max_awake_hours_per_day": 6, "keep_configs": 2}},
        "gpu": {
            "preset": "circrna",
            "serving": {"instance_type": "ml.g4dn.xlarge", "model_data": ARTIFACT.format("gpu")},
            "training": {"instance_type": "ml.g5.xlarge"},
        },
        "steady": {
            "preset": "circrna",
            "serving": {
                "mode": "always_on",
                "instance_type": "ml.c5.xlarge",
                "model_data": ARTIFACT.format("steady"),
            },
        },
    },
    "tags": TAGS,
    "network": {
        "subnet_ids": VPC["Subnets"],
        "security_group_ids": VPC["SecurityGroupIds"],
    },
    "kms_key_arn": KEY,
}
# Resource types that take CloudFormation Tags; every one of them in the app must carry the deployment's.
TAGGED_TYPES = {
    "AWS::S3::Bucket",
    "AWS::ECR::Repository",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::StepFunctions::StateMachine",
    "AWS::SNS::Topic",
    "AWS::CloudWatch::Alarm",
    "AWS::ApiGateway::RestApi",
    "AWS::SageMaker::Model",
    "AWS::SageMaker::EndpointConfig",
    "AWS::SageMaker::Endpoint",
}


@pytest.fixture(scope="module")
def corp(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(PLATFORM_CONTEXT, tmp_path_factory.mktemp("corp"))


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def pipeline(built: Built, model: str) -> dict:
    return state_machine_definition(built.service.to_json(), f"Model-{model}/Training/StateMachine")["States"]


def test_every_taggable_resource_carries_the_deployment_tags(corp):
    seen = set()
    for template in (corp.stateful.to_json(), corp.service.to_json()):
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] in TAGGED_TYPES:
                seen.add(resource["Type"])
                tags = {t["Key"]: t["Value"] for t in resource["Properties"].get("Tags", [])}
                assert TAGS.items() <= tags.items(), logical_id
    assert seen == TAGGED_TYPES


def test_cloudformation_models_run_in_the_vpc_and_configs_use_the_key_where_allowed(corp):
    service = corp.service.to_json()
    models = resources(service, "AWS::SageMaker::Model")
    assert len(models) == 2
    for model in models.values():
        assert model["Properties"]["VpcConfig"] == VPC
        assert "EnableNetworkIsolation" not in model["Properties"]
    configs = resources(service, "AWS::SageMaker::EndpointConfig")
    keys = {
        model: config["Properties"].get("KmsKeyId")
        for model in ("gpu", "steady")
        for config in configs.values()
        if config["Metadata"]["aws:cdk:path"].startswith(f"corp-service/Model-{model}/")
    }
    # ml.g4dn has local NVMe storage, encrypted in hardware: SageMaker refuses a key for it.
    assert keys == {"gpu": None, "steady": KEY}


def test_data_bucket_uses_the_key_and_access_logs_stay_sse_s3(corp):
    buckets = corp.stateful.to_json()["Resources"]
    data = buckets["DataBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert data["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}
    assert data["BucketKeyEnabled"] is True
    logs = buckets["AccessLogsBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][
        0
    ]
    assert logs["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_training_job_runs_in_the_vpc_encrypted_and_tagged(corp):
    job = pipeline(corp, "circrna")["Train"]["Parameters"]
    assert job["VpcConfig"] == VPC
    assert "EnableNetworkIsolation" not in job
    assert job["OutputDataConfig"]["KmsKeyId"] == KEY
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == KEY
    assert job["Tags"] == TAG_LIST
    # The toolkit downloads the source bundle itself (sagemaker_submit_directory); the channels are data.
    states = pipeline(corp, "circrna")
    assert job["InputDataConfig.$"] == "$.channels"
    for state, channels in (("WithTestChannel", ["train", "test"]), ("WithoutTestChannel", ["train"])):
        assert [c["ChannelName"] for c in states[state]["Result"]] == channels
    submit = text(job["HyperParameters"]["sagemaker_submit_directory"])
    assert submit.startswith('"s3://cdk-') and submit.endswith('.gz"')
    # ml.g5 has local NVMe storage: no volume key, but the output is still encrypted.
    gpu_job = pipeline(corp, "gpu")["Train"]["Parameters"]
    assert (
        "VolumeKmsKeyId" not in gpu_job["ResourceConfig"] and gpu_job["OutputDataConfig"]["KmsKeyId"] == KEY
    )


def test_pipeline_models_and_configs_get_the_vpc_key_and_tags(corp):
    states = pipeline(corp, "steady")
    model = states["CreateModel"]["Parameters"]
    assert (model["VpcConfig"], model["Tags"]) == (VPC, TAG_LIST)
    assert "EnableNetworkIsolation" not in model
    config = states["CreateEndpointConfig"]["Parameters"]
    assert (config["KmsKeyId"], config["Tags"]) == (KEY, TAG_LIST)
    assert "KmsKeyId" not in pipeline(corp, "gpu")["CreateEndpointConfig"]["Parameters"]


def test_creators_may_tag_and_grant_the_key_to_sagemaker_only(corp):
    service = corp.service.to_json()
    machine_role = logical_id_of(service, "AWS::IAM::Role", "Model-circrna/Training/StateMachine/Role")
    allowed = actions_on(statements(service, machine_role))
    base = "corp-service-circrna"
    assert allowed["sagemaker:addtags"] >= {
        f"{SAGEMAKER}:model/{base}-*",
        f"{SAGEMAKER}:endpoint-config/{base}-*",
    }
    invoker_role = logical_id_of(service, "AWS::IAM::Role", "Functions/InvokerRole")
    invoker = statements(service, invoker_role)
    # The on_demand endpoints, which the invoker creates; CloudFormation creates the always_on one.
    assert actions_on(invoker)["sagemaker:addtags"] == {
        f"{SAGEMAKER}:endpoint/corp-service-{m}" for m in ("circrna", "gpu")
    }
    for role_statements in (statements(service, machine_role), invoker):
        (grant,) = [s for s in role_statements if "kms:CreateGrant" in s["Action"]]
        assert grant["Resource"] == KEY
        assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_execution_role_uses_the_key(corp):
    service = corp.service.to_json()
    role = logical_id_of(service, "AWS::IAM::Role", "Model-circrna/ExecutionRole/Role")
    allowed = actions_on(statements(service, role))
    for action in ("kms:decrypt", "kms:encrypt", "kms:generatedatakey", "kms:creategrant"):
        assert allowed[action] == {KEY}, action


def test_execution_role_may_attach_jobs_and_endpoints_to_the_vpc_only_with_a_network(corp, full):
    """SageMaker creates the network interfaces in the configured subnets as the execution role."""
    eni_actions = {
        "ec2:createnetworkinterface",
        "ec2:createnetworkinterfacepermission",
        "ec2:deletenetworkinterface",
        "ec2:deletenetworkinterfacepermission",
        "ec2:describenetworkinterfaces",
        "ec2:describevpcs",
        "ec2:describedhcpoptions",
        "ec2:describesubnets",
        "ec2:describesecuritygroups",
    }
    for built, expected in ((corp, eni_actions), (full, set())):
        service = built.service.to_json()
        role = logical_id_of(service, "AWS::IAM::Role", "Model-circrna/ExecutionRole/Role")
        allowed = actions_on(statements(service, role))
        assert {a for a in allowed if a.startswith("ec2:")} == expected
        assert all(allowed[a] == {"*"} for a in expected)


def test_invoker_gets_the_tags_for_the_endpoints_it_creates(corp):
    service = corp.service.to_json()
    invoker = logical_id_of(service, "AWS::Lambda::Function", "Functions/Invoker/Resource")
    variables = service["Resources"][invoker]["Properties"]["Environment"]["Variables"]
    assert json.loads(variables["TAGS"]) == TAGS


def test_awake_alarm_sums_minutes_awake_over_a_day(corp):
    alarms = resources(corp.service.to_json(), "AWS::CloudWatch::Alarm")
    (alarm,) = [
        a["Properties"] for a in alarms.values() if a["Properties"].get("MetricName") == "MinutesAwake"
    ]
    assert (alarm["Namespace"], alarm["Statistic"], alarm["Period"]) == ("seqserve", "Sum", 86400)
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "model": "circrna",
        "service": "idle-checker",
    }
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == (
        360,
        "GreaterThanThreshold",
        1,
    )
    assert alarm["AlarmActions"]


def test_pipeline_deletes_old_versions_after_recording_and_before_notifying(corp):
    states = pipeline(corp, "circrna")
    assert states["EndpointAwake?"]["Default"] == "DeleteOldVersions"
    assert states["UpdateAwakeEndpoint"]["Next"] == "DeleteOldVersions"
    cleanup = states["DeleteOldVersions"]
    assert cleanup["Parameters"]["Payload"] == {
        "model": "circrna",
        "base": "corp-service-circrna",
        "endpoint_name": "corp-service-circrna",
        "keep": 2,
    }
    assert cleanup["Next"] == "NotifyTrained"
    # A failed cleanup does not fail a trained model's run; the next run retries it.
    assert cleanup["Catch"][0]["Next"] == "NotifyTrained"


def test_cleanup_function_may_delete_only_run_named_resources(corp):
    service = corp.service.to_json()
    role = logical_id_of(service, "AWS::IAM::Role", "PipelineCleanup/Role")
    allowed = actions_on(statements(service, role))
    bases = {f"corp-service-{m}" for m in ("circrna", "gpu", "steady")}
    assert allowed["sagemaker:deletemodel"] == {f"{SAGEMAKER}:model/{b}-*" for b in bases}
    assert allowed["sagemaker:deleteendpointconfig"] == {f"{SAGEMAKER}:endpoint-config/{b}-*" for b in bases}
    assert allowed["sagemaker:describeendpoint"] == {f"{SAGEMAKER}:endpoint/{b}" for b in bases}
    assert allowed["sagemaker:listmodels"] == {"*"}
    function = logical_id_of(service, "AWS::Lambda::Function", "PipelineCleanup/Function")
    properties = service["Resources"][function]["Properties"]
    assert properties["Handler"] == "pipeline_cleanup.handler.handler"
    invoker = logical_id_of(service, "AWS::Lambda::Function", "Functions/Invoker/Resource")
    assert properties["Layers"] == service["Resources"][invoker]["Properties"]["Layers"]


def test_without_platform_options_nothing_is_added(full):
    service = full.service.to_json()
    for model in resources(service, "AWS::SageMaker::Model").values():
        assert "VpcConfig" not in model["Properties"] and "EnableNetworkIsolation" not in model["Properties"]
    for config in resources(service, "AWS::SageMaker::EndpointConfig").values():
        assert "KmsKeyId" not in config["Properties"] and "Tags" not in config["Properties"]
    job = pipeline(full, "circrna")["Train"]["Parameters"]
    assert not {"VpcConfig", "EnableNetworkIsolation", "Tags"} & set(job)
    for state in ("WithTestChannel", "WithoutTestChannel"):
        assert "code" not in [c["ChannelName"] for c in pipeline(full, "circrna")[state]["Result"]]
    invoker = logical_id_of(service, "AWS::Lambda::Function", "Functions/Invoker/Resource")
    assert "TAGS" not in service["Resources"][invoker]["Properties"]["Environment"]["Variables"]
    assert not [
        a
        for a in resources(service, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "MinutesAwake"
    ]


def test_every_endpoint_creator_gets_the_tags_and_may_use_the_key(corp):
    """The reconciler and the job runner create endpoints too (issue 18/20): same tags, same grants."""
    service = corp.service.to_json()
    for name in ("Invoker", "IdleChecker", "JobRunner"):
        function = logical_id_of(service, "AWS::Lambda::Function", f"Functions/{name}/Resource")
        variables = service["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert json.loads(variables["TAGS"]) == TAGS, name
        assert variables["DEPLOYMENT_NAME"] == "corp-service", name
        role = statements(service, logical_id_of(service, "AWS::IAM::Role", f"Functions/{name}Role"))
        (grant,) = [s for s in role if "kms:CreateGrant" in s["Action"]]
        assert (grant["Resource"], grant["Condition"]) == (
            KEY,
            {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ), name
        (tagging,) = [s for s in role if "sagemaker:AddTags" in as_list(s["Action"])]
        assert tagging["Condition"] == {
            "StringEquals": {"aws:RequestTag/seqserve:deployment": "corp-service"},
            "ForAllValues:StringEquals": {"aws:TagKeys": ["seqserve:deployment", "cost-center", "team"]},
        }, name
