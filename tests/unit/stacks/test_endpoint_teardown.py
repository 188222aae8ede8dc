"""Issue 22, item 1: the service stack's custom resource that deletes this deployment's endpoints."""

from __future__ import annotations

from tests.unit.stacks.template_text import logical_id_of


def _teardown_function(full) -> tuple[str, dict]:
    (found,) = [
        (logical, resource)
        for logical, resource in full.service.find_resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == "teardown.handler.handler"
    ]
    return found


def test_a_custom_resource_runs_the_teardown_function_on_stack_delete(full):
    logical, function = _teardown_function(full)
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["DEPLOYMENT_NAME"] == "seqserve-service"
    assert variables["ENDPOINT_PREFIX"] == "seqserve-"
    # It waits within its own timeout, and leaves a minute to report.
    assert function["Properties"]["Timeout"] == 900
    assert int(variables["WAIT_SECONDS"]) <= 840
    (resource,) = full.service.find_resources("Custom::SeqserveEndpointTeardown").values()
    framework = resource["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    framework_env = full.service.to_json()["Resources"][framework]["Properties"]["Environment"]["Variables"]
    assert framework_env["USER_ON_EVENT_FUNCTION_ARN"] == {"Fn::GetAtt": [logical, "Arn"]}


def test_teardown_deletes_only_endpoints_with_this_deployments_tag(full):
    _, function = _teardown_function(full)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p
        for p in full.service.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    deletes = [s for s in statements if "sagemaker:DeleteEndpoint" in str(s["Action"])]
    assert deletes, statements
    for statement in deletes:
        assert statement["Condition"] == {
            "StringEquals": {"aws:ResourceTag/seqserve:deployment": "seqserve-service"}
        }


def test_the_endpoint_creators_and_the_schedule_are_deleted_before_the_teardown_runs(full):
    template = full.service.to_json()
    (resource,) = full.service.find_resources("Custom::SeqserveEndpointTeardown")
    for path, kind in (
        ("Functions/Invoker/Resource", "AWS::Lambda::Function"),
        ("Functions/IdleChecker/Resource", "AWS::Lambda::Function"),
        ("IdleShutdown/Schedule/Resource", "AWS::Events::Rule"),
    ):
        logical = logical_id_of(template, kind, path)
        assert resource in template["Resources"][logical].get("DependsOn", []), path
