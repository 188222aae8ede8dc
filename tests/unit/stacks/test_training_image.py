"""The PyTorch images come from sagemaker.image_uris.retrieve at synth, offline, for any region."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from sagemaker import image_uris

from stacks.training_image import (
    FRAMEWORK_VERSION,
    MAPPING_ID,
    image_table,
    inference_image_uri,
    regions,
    registry_account,
    training_image_uri,
)


def test_the_table_is_what_the_sdk_retrieves_for_every_region_it_knows():
    table = image_table()
    assert set(table) == set(regions())
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= set(table)
    for region in ("us-east-1", "eu-central-2", "cn-north-1", "us-gov-west-1"):
        row = table[region]
        for scope in ("training", "inference"):
            for processor, instance in (("Cpu", "ml.c5.xlarge"), ("Gpu", "ml.p3.2xlarge")):
                assert row[f"{scope.capitalize()}{processor}"] == image_uris.retrieve(
                    "pytorch",
                    region=region,
                    version=FRAMEWORK_VERSION,
                    instance_type=instance,
                    image_scope=scope,
                ), region
    assert all(row["account"].isdigit() and len(row["account"]) == 12 for row in table.values())
    # The region's own domain comes from the SDK too (China's registries are under amazonaws.com.cn).
    assert table["cn-north-1"]["TrainingGpu"].split("/")[0].endswith(".cn-north-1.amazonaws.com.cn")
    assert table["us-east-1"]["TrainingCpu"] == (
        f"763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:{FRAMEWORK_VERSION}-cpu-py312"
    )


def test_a_region_agnostic_stack_picks_its_row_at_deploy_time():
    stack = cdk.Stack(cdk.App(), "Agnostic")
    uri = stack.resolve(training_image_uri(stack, gpu=True))
    assert uri == {"Fn::FindInMap": [MAPPING_ID, {"Ref": "AWS::Region"}, "TrainingGpu"]}
    assert stack.resolve(inference_image_uri(stack, gpu=False)) == {
        "Fn::FindInMap": [MAPPING_ID, {"Ref": "AWS::Region"}, "InferenceCpu"]
    }
    assert stack.resolve(registry_account(stack)) == {
        "Fn::FindInMap": [MAPPING_ID, {"Ref": "AWS::Region"}, "account"]
    }
    mapping = cdk.assertions.Template.from_stack(stack).to_json()["Mappings"][MAPPING_ID]
    assert mapping == {region: dict(row) for region, row in image_table().items()}


def test_a_stack_with_a_region_gets_literal_uris_and_an_unknown_region_is_named():
    stack = cdk.Stack(cdk.App(), "Pinned", env=cdk.Environment(region="ap-southeast-2"))
    assert training_image_uri(stack, gpu=False) == image_table()["ap-southeast-2"]["TrainingCpu"]
    assert registry_account(stack) == "763104351884"
    assert stack.node.try_find_child(MAPPING_ID) is None
    nowhere = cdk.Stack(cdk.App(), "Nowhere", env=cdk.Environment(region="xx-nowhere-1"))
    with pytest.raises(ValueError, match="region 'xx-nowhere-1'"):
        training_image_uri(nowhere, gpu=False)
