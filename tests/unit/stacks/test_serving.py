"""Serving per mode: on_demand leaves the endpoint to the Lambdas; serverless and always_on own one."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from constructs import Construct

from stacks.config import parse_model
from stacks.serving import ModelServing
from tests.unit.stacks.template_text import actions_on, logical_id_of, statements, text

SAGEMAKER_NAME = re.compile(r"^seqserve-[a-z0-9](-*[a-z0-9])*$")


def resources_of(built, resource_type: str) -> dict[str, dict]:
    return {
        resource["Metadata"]["aws:cdk:path"]: resource
        for resource in built.service.find_resources(resource_type).values()
    }


def test_on_demand_models_have_no_cloudformation_endpoint(full):
    endpoints = resources_of(full, "AWS::SageMaker::Endpoint")
    assert sorted(endpoints) == [
        "seqserve-service/Model-proteins/Serving/Endpoint",
        "seqserve-service/Model-specialty/Serving/Endpoint",
    ]
    names = sorted(e["Properties"]["EndpointName"] for e in endpoints.values())
    assert names[0] == "seqserve-service-proteins"
    # always_on: the instance type is part of the name (a new type is a new endpoint, blue/green).
    assert re.fullmatch(r"seqserve-service-specialty-[0-9a-f]{12}", names[1])


def test_endpoint_configs_exist_only_where_an_artifact_is_given(full):
    configs = resources_of(full, "AWS::SageMaker::EndpointConfig")
    assert sorted(path.split("/")[1] for path in configs) == [
        "Model-aptamers",
        "Model-proteins",
        "Model-specialty",
    ]
    models = resources_of(full, "AWS::SageMaker::Model")
    aptamers = models["seqserve-service/Model-aptamers/Serving/Model"]["Properties"]
    assert (
        aptamers["PrimaryContainer"]["ModelDataUrl"] == "s3://models-bucket/artifacts/aptamers/model.tar.gz"
    )
    image = text(aptamers["PrimaryContainer"]["Image"])
    assert "ServingImageRepository" in image and ":gpu-" in image


def test_on_demand_config_starts_one_instance(full):
    config = resources_of(full, "AWS::SageMaker::EndpointConfig")[
        "seqserve-service/Model-aptamers/Serving/EndpointConfig"
    ]
    (variant,) = config["Properties"]["ProductionVariants"]
    assert (variant["VariantName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        "AllTraffic",
        "ml.g4dn.xlarge",
        1,
    )


def test_serverless_endpoint_has_memory_and_concurrency(full):
    config = resources_of(full, "AWS::SageMaker::EndpointConfig")[
        "seqserve-service/Model-proteins/Serving/EndpointConfig"
    ]
    (variant,) = config["Properties"]["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 4}
    assert "InstanceType" not in variant
    template = full.service.to_json()
    assert not [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
        and "proteins" in r["Metadata"]["aws:cdk:path"]
    ]


def test_always_on_endpoint_scales_on_invocations_per_instance(full):
    template = full.service.to_json()
    target_id = logical_id_of(template, "AWS::ApplicationAutoScaling::ScalableTarget", "Model-specialty")
    target = template["Resources"][target_id]
    endpoint_id = logical_id_of(template, "AWS::SageMaker::Endpoint", "Model-specialty")
    endpoint_name = template["Resources"][endpoint_id]["Properties"]["EndpointName"]
    assert target["Properties"]["ResourceId"] == f"endpoint/{endpoint_name}/variant/AllTraffic"
    assert target["Properties"]["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (1, 4)
    assert endpoint_id in target["DependsOn"]
    full.service.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": {"Ref": target_id},
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "TargetValue": 200,
            },
        },
    )
    config = resources_of(full, "AWS::SageMaker::EndpointConfig")[
        "seqserve-service/Model-specialty/Serving/EndpointConfig"
    ]
    (variant,) = config["Properties"]["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.xlarge", 1)


def test_on_demand_models_get_a_state_item_that_is_never_overwritten(full):
    items = resources_of(full, "Custom::AWS")
    assert sorted(path.split("/")[1] for path in items) == ["Model-aptamers", "Model-circrna"]
    properties = items["seqserve-service/Model-circrna/Serving/StateItem/Resource/Default"]["Properties"]
    create = json.loads(text(properties["Create"]))
    assert create["service"] == "DynamoDB" and create["action"] == "putItem"
    assert create["parameters"]["Item"] == {
        "model": {"S": "circrna"},
        "state": {"S": "asleep"},
        "last_invoked_at": {"N": "0"},
        "state_changed_at": {"N": "0"},
    }
    assert create["parameters"]["ConditionExpression"] == "attribute_not_exists(#m)"
    assert create["ignoreErrorCodesMatching"] == "ConditionalCheckFailedException"
    assert "Update" not in properties and "Delete" not in properties


def test_every_model_container_accepts_as_many_inputs_as_the_api(full):
    # The invoker passes a container 413 through, so a lower container limit would cap the API's.
    models = resources_of(full, "AWS::SageMaker::Model")
    assert models
    for properties in (resource["Properties"] for resource in models.values()):
        assert properties["PrimaryContainer"]["Environment"] == {"SEQSERVE_MAX_INPUTS": "200"}


def test_every_sagemaker_resource_has_an_explicit_lowercase_name(full):
    # SageMaker authorizes against lowercased ARNs: a generated mixed-case name would miss the policies.
    template = full.service.to_json()
    named = {"AWS::SageMaker::Model": "ModelName", "AWS::SageMaker::EndpointConfig": "EndpointConfigName"}
    named["AWS::SageMaker::Endpoint"] = "EndpointName"
    for resource_type, key in named.items():
        for resource in full.service.find_resources(resource_type).values():
            name = resource["Properties"].get(key)
            assert isinstance(name, str) and SAGEMAKER_NAME.match(name) and len(name) <= 63, resource
    # The invoker may create the on_demand endpoint from exactly that (lowercase) configuration.
    config = resources_of(full, "AWS::SageMaker::EndpointConfig")[
        "seqserve-service/Model-aptamers/Serving/EndpointConfig"
    ]
    name = config["Properties"]["EndpointConfigName"]
    assert name.startswith("seqserve-service-aptamers-")
    invoker = logical_id_of(template, "AWS::IAM::Role", "Functions/InvokerRole")
    allowed = actions_on(statements(template, invoker))["sagemaker:createendpoint"]
    assert (
        f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:endpoint-config/{name}"
        in allowed
    )


def test_model_data_anywhere_is_readable_by_exactly_that_object(full):
    # models-bucket is not the app's bucket: the role's prefix grants would not cover it.
    template = full.service.to_json()
    for model in ("aptamers", "proteins", "specialty"):
        role = logical_id_of(template, "AWS::IAM::Role", f"Model-{model}/ExecutionRole/Role")
        allowed = actions_on(statements(template, role))
        expected = f"arn:${{AWS::Partition}}:s3:::models-bucket/artifacts/{model}/model.tar.gz"
        assert expected in allowed["s3:getobject"], model


def serving_template(serving: dict) -> dict:
    """One always_on/serverless ModelServing in a stack of its own (fast: no full app)."""
    app = cdk.App()
    stack = cdk.Stack(app, "Serving")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    table = dynamodb.TableV2(
        stack, "Table", partition_key=dynamodb.Attribute(name="model", type=dynamodb.AttributeType.STRING)
    )
    ModelServing(
        stack,
        "Serving",
        model=parse_model("specialty", {"preset": "medical-specialty", "serving": serving}),
        endpoint_name="seqserve-service-specialty",
        image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/seqserve:cpu-abc",
        execution_role=role,
        table=table,
        image_copy=Construct(stack, "Copy"),
        container_environment={},
    )
    return Template.from_stack(stack).to_json()


def only(template: dict, resource_type: str) -> dict:
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == resource_type]
    return resource["Properties"]


ALWAYS_ON = {
    "mode": "always_on",
    "instance_type": "ml.c5.xlarge",
    "min_instances": 1,
    "max_instances": 4,
    "model_data": "s3://models-bucket/artifacts/specialty/model.tar.gz",
}


def test_always_on_update_keeps_the_instance_count_and_endpoint():
    before = serving_template(ALWAYS_ON)
    after = serving_template({**ALWAYS_ON, "model_data": "s3://models-bucket/artifacts/specialty/v2.tar.gz"})
    # A new model is a new configuration on the same endpoint and scalable target ...
    assert (
        only(after, "AWS::SageMaker::Model")["ModelName"]
        != only(before, "AWS::SageMaker::Model")["ModelName"]
    )
    config = "AWS::SageMaker::EndpointConfig"
    assert only(after, config)["EndpointConfigName"] != only(before, config)["EndpointConfigName"]
    endpoint, target = "AWS::SageMaker::Endpoint", "AWS::ApplicationAutoScaling::ScalableTarget"
    assert only(after, endpoint)["EndpointName"] == only(before, endpoint)["EndpointName"]
    assert only(after, target)["ResourceId"] == only(before, target)["ResourceId"]
    # ... and UpdateEndpoint keeps the instance count autoscaling reached (not InitialInstanceCount).
    assert only(after, endpoint)["RetainAllVariantProperties"] is True


def test_always_on_instance_type_change_is_a_new_endpoint_and_scalable_target():
    # SageMaker refuses to change the instance type of an autoscaled variant in place.
    before = serving_template(ALWAYS_ON)
    after = serving_template({**ALWAYS_ON, "instance_type": "ml.c5.2xlarge"})
    endpoint, target = "AWS::SageMaker::Endpoint", "AWS::ApplicationAutoScaling::ScalableTarget"
    assert only(after, endpoint)["EndpointName"] != only(before, endpoint)["EndpointName"]
    assert only(after, endpoint)["EndpointName"].startswith("seqserve-service-specialty-")
    assert (
        only(after, target)["ResourceId"]
        == f"endpoint/{only(after, endpoint)['EndpointName']}/variant/AllTraffic"
    )


@pytest.mark.parametrize("mode", ["serverless", "always_on"])
def test_cloudformation_endpoints_wait_for_their_configuration(mode):
    # Each mode with its own options (the config refuses ones a mode does not use).
    serverless = {"mode": "serverless", "model_data": ALWAYS_ON["model_data"]}
    template = serving_template(ALWAYS_ON if mode == "always_on" else serverless)
    (endpoint,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Endpoint"]
    config_id = next(
        k for k, r in template["Resources"].items() if r["Type"] == "AWS::SageMaker::EndpointConfig"
    )
    model_id = next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::SageMaker::Model")
    assert config_id in endpoint["DependsOn"]
    assert model_id in template["Resources"][config_id]["DependsOn"]


def test_lambda_mode_has_no_sagemaker_model_configuration_or_endpoint_but_a_state_item():
    # Issue 21: the serving function reads model_data itself; the state item is where the training
    # pipeline records a trained artifact's configuration, which the function then serves.
    template = serving_template(
        {"mode": "lambda", "model_data": "s3://models-bucket/artifacts/s/model.tar.gz"}
    )
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::SageMaker::")}
    assert "Custom::AWS" in types
