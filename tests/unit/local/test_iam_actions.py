"""The one table of how IAM authorizes a call (local/iam_actions.py), and the local names that must
match the CDK app's."""

from __future__ import annotations

from local.iam_actions import Place, call_requests, state_machine_requests

PLACE = Place(account="123456789012", region="us-east-1")
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"


def test_create_endpoint_with_tags_and_a_keyed_config_needs_add_tags_and_create_grant() -> None:
    requests = call_requests(
        service="sagemaker",
        operation="CreateEndpoint",
        params={
            "EndpointName": "App-Model",
            "EndpointConfigName": "App-Model-1",
            "Tags": [{"Key": "t", "Value": "v"}],
        },
        place=PLACE,
        config_key=lambda name: KEY if name == "App-Model-1" else None,
    )
    found = {(r.action, r.resource) for r in requests}
    endpoint = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/app-model"
    assert found == {
        ("sagemaker:CreateEndpoint", endpoint),
        ("sagemaker:CreateEndpoint", "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/app-model-1"),
        ("sagemaker:AddTags", endpoint),
        ("kms:CreateGrant", KEY),
    }
    create = next(r for r in requests if r.action == "sagemaker:CreateEndpoint" and r.resource == endpoint)
    assert create.condition_context({}) == {"aws:RequestTag/t": "v", "aws:TagKeys": ["t"]}
    grant = next(r for r in requests if r.action == "kms:CreateGrant")
    assert grant.condition_context({}) == {"kms:GrantIsForAWSResource": "true"}


def test_existing_resources_carry_their_tags_and_runtime_calls_are_sagemaker_actions() -> None:
    [delete] = call_requests(
        service="sagemaker", operation="DeleteEndpoint", params={"EndpointName": "E"}, place=PLACE
    )
    assert delete.resource_tags_of == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/E"
    assert delete.condition_context({"owner": "me"}) == {"aws:ResourceTag/owner": "me"}
    [invoke] = call_requests(
        service="sagemaker-runtime", operation="InvokeEndpoint", params={"EndpointName": "E"}, place=PLACE
    )
    assert (invoke.action, invoke.resource) == (
        "sagemaker:InvokeEndpoint",
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e",
    )
    [listed] = call_requests(service="sagemaker", operation="ListEndpoints", params={}, place=PLACE)
    assert listed.resource == "*"


def test_other_services_map_to_their_resources() -> None:
    transact = call_requests(
        service="dynamodb",
        operation="TransactWriteItems",
        params={"TransactItems": [{"Update": {"TableName": "a"}}, {"Put": {"TableName": "b"}}]},
        place=PLACE,
    )
    assert {(r.action, r.resource.rsplit("/", 1)[-1]) for r in transact} == {
        ("dynamodb:UpdateItem", "a"),
        ("dynamodb:PutItem", "b"),
    }
    [send] = call_requests(
        service="sqs",
        operation="SendMessageBatch",
        params={"QueueUrl": "http://h/123456789012/q"},
        place=PLACE,
    )
    assert (send.action, send.resource) == ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q")
    [get] = call_requests(
        service="s3", operation="HeadObject", params={"Bucket": "b", "Key": "k/x"}, place=PLACE
    )
    assert (get.action, get.resource) == ("s3:GetObject", "arn:aws:s3:::b/k/x")


def test_a_sync_training_task_needs_what_step_functions_documents() -> None:
    requests = state_machine_requests(
        "arn:aws:states:::sagemaker:createTrainingJob.sync",
        {"TrainingJobName": "base-1", "RoleArn": "arn:aws:iam::123456789012:role/r"},
        place=PLACE,
    )
    actions = {r.action for r in requests}
    assert actions == {
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:ListTags",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
        "iam:PassRole",
    }
    passed = next(r for r in requests if r.action == "iam:PassRole")
    assert passed.condition_context({}) == {"iam:PassedToService": "sagemaker.amazonaws.com"}


def test_local_names_match_the_cdk_apps() -> None:
    from local.resources import ARTIFACT_PREFIX
    from local.stack import PIPELINE_CLEANUP_TIMEOUT_SECONDS
    from stacks.model_cleanup import TIMEOUT
    from stacks.storage import ARTIFACT_PREFIX as DEPLOYED_PREFIX

    assert ARTIFACT_PREFIX == DEPLOYED_PREFIX
    assert TIMEOUT.to_seconds() == PIPELINE_CLEANUP_TIMEOUT_SECONDS


def test_lambda_invoke_is_invoke_function_on_the_named_function() -> None:
    # Issue 21: the invoker calls a model's serving function by name.
    [by_name] = call_requests(
        service="lambda", operation="Invoke", params={"FunctionName": "app-circrna-serving"}, place=PLACE
    )
    assert (by_name.action, by_name.resource) == (
        "lambda:InvokeFunction",
        "arn:aws:lambda:us-east-1:123456789012:function:app-circrna-serving",
    )
    arn = "arn:aws:lambda:us-east-1:123456789012:function:other"
    [by_arn] = call_requests(service="lambda", operation="Invoke", params={"FunctionName": arn}, place=PLACE)
    assert by_arn.resource == arn
