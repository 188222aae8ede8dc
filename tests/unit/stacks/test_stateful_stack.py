"""The stateful stack: retained storage with pinned logical IDs, so refactors never replace data."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from stacks.storage import PINNED_IDS


def test_logical_ids_are_pinned(full):
    resources = full.stateful.to_json()["Resources"]
    assert resources["DataBucket"]["Type"] == "AWS::S3::Bucket"
    assert resources["AccessLogsBucket"]["Type"] == "AWS::S3::Bucket"
    assert resources["ServingImageRepository"]["Type"] == "AWS::ECR::Repository"
    assert resources["StateTable"]["Type"] == "AWS::DynamoDB::GlobalTable"
    history = resources["HistoryTable"]
    assert history["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    assert [k["AttributeName"] for k in history["Properties"]["KeySchema"]] == ["model", "at"]
    assert resources["JobsTable"]["Type"] == "AWS::DynamoDB::GlobalTable"
    assert set(PINNED_IDS.values()) == {
        "JobsTable",
        "DataBucket",
        "AccessLogsBucket",
        "ServingImageRepository",
        "StateTable",
        "HistoryTable",
    }


def test_stateful_resources_are_retained_and_the_stack_protected(full):
    resources = full.stateful.to_json()["Resources"]
    for logical_id in PINNED_IDS.values():
        assert resources[logical_id]["DeletionPolicy"] == "Retain", logical_id
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain", logical_id
    assert full.stacks.stateful.termination_protection is True


def test_data_bucket_is_private_encrypted_versioned_and_logged(full):
    full.stateful.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": "AccessLogsBucket"},
                "LogFilePrefix": "data-bucket/",
            },
        },
    )


def test_data_bucket_expires_old_artifacts_and_checkpoints(full):
    rules = full.stateful.to_json()["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    by_id = {rule["Id"]: rule for rule in rules}
    assert by_id["expire-old-artifacts"]["Prefix"] == "artifacts/"
    assert by_id["expire-old-artifacts"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert by_id["expire-checkpoints"]["Prefix"] == "checkpoints/"
    assert by_id["expire-checkpoints"]["ExpirationInDays"] == 14
    assert by_id["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_both_buckets_refuse_plain_http(full):
    policies = full.stateful.find_resources("AWS::S3::BucketPolicy")
    buckets = set()
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        deny = [s for s in statements if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in deny)
        buckets.add(policy["Properties"]["Bucket"]["Ref"])
    assert buckets == {"DataBucket", "AccessLogsBucket"}


def test_repository_scans_on_push_and_never_expires_a_tagged_image(full):
    full.stateful.has_resource_properties(
        "AWS::ECR::Repository",
        {"ImageScanningConfiguration": {"ScanOnPush": True}, "ImageTagMutability": "MUTABLE"},
    )
    repository = full.stateful.to_json()["Resources"]["ServingImageRepository"]["Properties"]
    rules = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    # A recorded endpoint configuration may pin any tag, however old: only untagged images expire.
    assert rules and all(rule["selection"]["tagStatus"] == "untagged" for rule in rules)


def test_state_table_is_on_demand_with_point_in_time_recovery(full):
    full.stateful.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [{"AttributeName": "model", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "model", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "Replicas": [
                Match.object_like({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})
            ],
        },
    )


def test_stateful_stack_is_environment_agnostic_by_default(full, iam_app):
    assert full.stacks.stateful.environment == "aws://unknown-account/unknown-region"
    assert iam_app.stacks.stateful.environment == "aws://123456789012/eu-west-1"


def test_outputs_name_the_bucket_table_and_repository(full):
    outputs = full.stateful.to_json()["Outputs"]
    assert outputs["DataBucketName"]["Value"] == {"Ref": "DataBucket"}
    assert outputs["StateTableName"]["Value"] == {"Ref": "StateTable"}
    assert "ServingImageRepository" in str(outputs["ServingImageRepositoryUri"]["Value"])
