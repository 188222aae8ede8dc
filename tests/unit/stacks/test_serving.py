"""Serving per mode: on_demand leaves the endpoint to the Lambdas; serverless and always_on own one."""

from __future__ import annotations

import json

from tests.unit.stacks.template_text import logical_id_of, text


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
    assert {e["Properties"]["EndpointName"] for e in endpoints.values()} == {
        "seqserve-service-proteins",
        "seqserve-service-specialty",
    }


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
    assert target["Properties"]["ResourceId"] == "endpoint/seqserve-service-specialty/variant/AllTraffic"
    assert target["Properties"]["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (1, 4)
    endpoint_id = logical_id_of(template, "AWS::SageMaker::Endpoint", "Model-specialty")
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
