"""The Lambdas: runtime, layer, logs, the environment contract of docs/internals.md, least privilege."""

from __future__ import annotations

import json
import re

from tests.unit.stacks.template_text import actions_on, logical_id_of, statements, text

SAGEMAKER = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}"
RULE = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/seqserve-service-idle-check"
TABLE_ARN = re.compile(r"\$\{Import:seqserve-stateful:ExportsOutputFnGetAttStateTableArn\w+\}")


def function(built, name: str) -> dict:
    template = built.service.to_json()
    return template["Resources"][
        logical_id_of(template, "AWS::Lambda::Function", f"Functions/{name}/Resource")
    ]


def role_permissions(built, name: str) -> dict[str, set[str]]:
    template = built.service.to_json()
    return actions_on(
        statements(template, logical_id_of(template, "AWS::IAM::Role", f"Functions/{name}Role"))
    )


def test_python_312_on_arm64_with_tracing_json_logs_and_the_powertools_layer(full):
    for name, handler in (
        ("Invoker", "invoker.handler.handler"),
        ("IdleChecker", "idle_checker.handler.handler"),
    ):
        properties = function(full, name)["Properties"]
        assert properties["Runtime"] == "python3.12"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Handler"] == handler
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        (layer,) = properties["Layers"]
        parameter = full.service.to_json()["Parameters"][layer["Ref"]]
        assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
        assert parameter["Default"] == "/aws/service/powertools/python/arm64/python3.12/3.37.0"


def test_installed_powertools_is_the_layer_version():
    from aws_lambda_powertools.shared.version import VERSION

    from stacks.functions import POWERTOOLS_VERSION

    assert VERSION == POWERTOOLS_VERSION


def test_log_groups_have_retention(full):
    groups = full.service.find_resources("AWS::Logs::LogGroup")
    lambda_groups = [g for g in groups.values() if "Functions/" in g["Metadata"]["aws:cdk:path"]]
    assert len(lambda_groups) == 3
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in lambda_groups)


def test_environment_follows_the_internals_contract(full):
    for name, service in (("Invoker", "invoker"), ("IdleChecker", "idle-checker")):
        env = function(full, name)["Properties"]["Environment"]["Variables"]
        # Queued predictions' variables (tests/unit/stacks/test_job_queue.py) aside.
        assert set(env) - {"JOBS_TABLE", "JOBS_BUCKET", "JOBS_QUEUE_URL"} == {
            "STATE_TABLE",
            "MODELS",
            "IDLE_RULE_NAME",
            "NOTIFY_TOPIC_ARN",
            "MAX_INPUTS",
            "MAX_BODY_BYTES",
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
        }
        assert env["STATE_TABLE"] == {
            "Fn::ImportValue": "seqserve-stateful:ExportsOutputRefStateTableB9CBD53A"
        }
        assert env["IDLE_RULE_NAME"] == "seqserve-service-idle-check"
        assert (env["MAX_INPUTS"], env["MAX_BODY_BYTES"]) == ("200", "262144")
        assert (env["POWERTOOLS_SERVICE_NAME"], env["POWERTOOLS_METRICS_NAMESPACE"]) == (service, "seqserve")


def test_models_variable_is_what_the_lambda_settings_parser_accepts(full):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lambdas"))
    from seqserve_common.settings import parse_settings

    template = full.service.to_json()
    env = function(full, "Invoker")["Properties"]["Environment"]["Variables"]
    config_ids = {
        text({"Fn::GetAtt": [logical_id, "EndpointConfigName"]}): path
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SageMaker::EndpointConfig"
        for path in [resource["Metadata"]["aws:cdk:path"]]
    }
    models = json.loads(text(env["MODELS"]))
    assert models["circrna"] == {
        "preset": "circrna",
        "mode": "on_demand",
        "endpoint_name": "seqserve-service-circrna",
        "endpoint_config_name": None,
        "idle_minutes": 15,
    }
    # The artifact given in config makes an endpoint configuration the Lambdas start from.
    assert "Model-aptamers/Serving/EndpointConfig" in config_ids[models["aptamers"]["endpoint_config_name"]]
    assert [(m["mode"], m["endpoint_name"]) for m in models.values()] == [
        ("on_demand", "seqserve-service-circrna"),
        ("on_demand", "seqserve-service-aptamers"),
        ("serverless", "seqserve-service-proteins"),
        ("always_on", "seqserve-service-specialty"),
    ]
    settings = parse_settings(
        {"MODELS": json.dumps(models), "STATE_TABLE": "t", "MAX_INPUTS": env["MAX_INPUTS"]}
    )
    assert settings.models["circrna"].endpoint_config_name is None
    assert settings.models["aptamers"].idle_minutes == 10


def test_invoker_invokes_only_these_endpoints_and_wakes_only_on_demand_ones(full):
    allowed = role_permissions(full, "Invoker")
    endpoint = f"{SAGEMAKER}:endpoint/seqserve-service-"
    assert allowed["sagemaker:invokeendpoint"] == {
        endpoint + name for name in ("circrna", "aptamers", "proteins", "specialty")
    }
    create = allowed["sagemaker:createendpoint"]
    assert {r for r in create if ":endpoint/" in r} == {endpoint + "circrna", endpoint + "aptamers"}
    configs = {r for r in create if ":endpoint-config/" in r}
    assert f"{SAGEMAKER}:endpoint-config/seqserve-service-circrna-*" in configs
    assert f"{SAGEMAKER}:endpoint-config/seqserve-service-aptamers-*" in configs
    assert any("ModelaptamersServingEndpointConfig" in r for r in configs)
    assert allowed["sagemaker:describeendpoint"] == {endpoint + "circrna", endpoint + "aptamers"}
    assert "sagemaker:deleteendpoint" not in allowed
    assert allowed["events:enablerule"] == {RULE}
    (table,) = allowed["dynamodb:updateitem"]
    assert TABLE_ARN.fullmatch(table)
    # PutItem: on the jobs table only (queued predictions).
    assert {a for a in allowed if a.startswith("dynamodb:")} == {
        "dynamodb:getitem",
        "dynamodb:updateitem",
        "dynamodb:putitem",
    }
    assert not any("StateTable" in r for r in allowed["dynamodb:putitem"])


def test_idle_checker_deletes_only_on_demand_endpoints(full):
    allowed = role_permissions(full, "IdleChecker")
    endpoint = f"{SAGEMAKER}:endpoint/seqserve-service-"
    assert allowed["sagemaker:deleteendpoint"] == {endpoint + "circrna", endpoint + "aptamers"}
    assert allowed["sagemaker:describeendpoint"] == {endpoint + "circrna", endpoint + "aptamers"}
    assert "sagemaker:createendpoint" not in allowed and "sagemaker:invokeendpoint" not in allowed
    assert allowed["events:disablerule"] == allowed["events:enablerule"] == {RULE}
    assert allowed["sns:publish"] == {"${NotificationsTopicAE679CBD}"}
    assert {a for a in allowed if a.startswith("dynamodb:")} == {"dynamodb:getitem", "dynamodb:updateitem"}


def test_only_xray_and_the_topic_key_are_unscoped(full):
    for name in ("Invoker", "IdleChecker"):
        allowed = role_permissions(full, name)
        unscoped = {action for action, resources in allowed.items() if "*" in resources}
        assert unscoped == {"xray:puttracesegments", "xray:puttelemetryrecords"}, name
        logs = allowed["logs:putlogevents"]
        assert len(logs) == 1 and "Functions" in next(iter(logs)), name
        assert "logs:createloggroup" not in allowed


def test_every_action_the_lambda_code_calls_is_granted(full):
    """boto3 calls found in lambdas/ (snake_case) -> the IAM actions the roles must hold."""
    from pathlib import Path

    source = "\n".join(p.read_text() for p in (Path(__file__).resolve().parents[3] / "lambdas").rglob("*.py"))
    calls = set(
        re.findall(
            r"\.(invoke_endpoint|create_endpoint|describe_endpoint|delete_endpoint|"
            r"get_item|update_item|put_item|enable_rule|disable_rule|publish)\(",
            source,
        )
    )
    granted = role_permissions(full, "Invoker").keys() | role_permissions(full, "IdleChecker").keys()
    services = {
        "invoke_endpoint": "sagemaker",
        "create_endpoint": "sagemaker",
        "describe_endpoint": "sagemaker",
        "delete_endpoint": "sagemaker",
        "get_item": "dynamodb",
        "update_item": "dynamodb",
        "put_item": "dynamodb",
        "enable_rule": "events",
        "disable_rule": "events",
        "publish": "sns",
    }
    missing = {f"{services[c]}:{c.replace('_', '')}" for c in calls} - set(granted)
    assert calls and not missing
