"""The Lambdas: runtime, layer, logs, the environment contract of docs/internals.md, least privilege."""

from __future__ import annotations

import json
import re

from tests.unit.stacks.template_text import actions_on, as_list, logical_id_of, statements, text

SAGEMAKER = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}"
# Issue 18: an endpoint is this deployment's by its seqserve:deployment tag, whose value is the stack name.
OWNED = {"StringEquals": {"aws:ResourceTag/seqserve:deployment": "seqserve-service"}}
TAGGING = {"aws:RequestTag/seqserve:deployment": "seqserve-service"}
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
        layer_id = layer["Ref"]
        assert full.service.to_json()["Resources"][layer_id]["Type"] == "AWS::Lambda::LayerVersion"
    # No SSM lookup but CDK's bootstrap version: Powertools' public parameter exists only in some regions.
    parameters = full.service.to_json().get("Parameters", {}).values()
    assert [p["Default"] for p in parameters if "SSM" in p["Type"]] == ["/cdk-bootstrap/hnb659fds/version"]


def test_powertools_layer_is_unpacked_from_the_pinned_wheels_for_arm64_python_312(full):
    from importlib.metadata import version

    from stacks.powertools_layer import layer_pins

    (layer,) = full.service.find_resources("AWS::Lambda::LayerVersion").values()
    properties = layer["Properties"]
    assert properties["CompatibleRuntimes"] == ["python3.12"]
    assert properties["CompatibleArchitectures"] == ["arm64"]
    assets = json.loads((full.outdir / "seqserve-service.assets.json").read_text())["files"]
    (staged,) = [
        full.outdir / a["source"]["path"]
        for a in assets.values()
        if (full.outdir / a["source"]["path"] / "python" / "aws_lambda_powertools").is_dir()
    ]
    packages = staged / "python"
    for package in ("aws_lambda_powertools", "pydantic", "pydantic_core", "jmespath", "fastjsonschema"):
        assert (packages / package).is_dir(), package
    # pydantic-core is compiled: the layer must hold the build for the functions' runtime.
    (core,) = (packages / "pydantic_core").glob("_pydantic_core.*.so")
    assert "cpython-312-aarch64-linux-gnu" in core.name
    # The layer ships the versions the tests run against.
    pins = layer_pins()
    for name in ("aws_lambda_powertools", "pydantic", "pydantic_core", "jmespath", "typing_extensions"):
        assert version(name) == pins[name], name


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
            "ENDPOINT_PREFIX",
            "NOTIFY_TOPIC_ARN",
            "MAX_INPUTS",
            "MAX_BODY_BYTES",
            "CORS_ORIGINS",
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
            "HISTORY_TABLE",
            "DEPLOYMENT_NAME",
        }
        assert env["HISTORY_TABLE"] == {
            "Fn::ImportValue": "seqserve-stateful:ExportsOutputRefHistoryTable0780ACA8"
        }
        assert env["STATE_TABLE"] == {
            "Fn::ImportValue": "seqserve-stateful:ExportsOutputRefStateTableB9CBD53A"
        }
        assert env["ENDPOINT_PREFIX"] == "seqserve-"
        # The value of the seqserve:deployment tag on every endpoint the functions create.
        assert env["DEPLOYMENT_NAME"] == "seqserve-service"
        assert (env["MAX_INPUTS"], env["MAX_BODY_BYTES"]) == ("200", "262144")
        assert (env["POWERTOOLS_SERVICE_NAME"], env["POWERTOOLS_METRICS_NAMESPACE"]) == (service, "seqserve")


def test_models_variable_is_what_the_lambda_settings_parser_accepts(full):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lambdas"))
    from seqserve_common.settings import parse_settings

    template = full.service.to_json()
    env = function(full, "Invoker")["Properties"]["Environment"]["Variables"]
    config_names = {
        resource["Properties"]["EndpointConfigName"]: resource["Metadata"]["aws:cdk:path"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SageMaker::EndpointConfig"
    }
    models = json.loads(text(env["MODELS"]))
    assert models["circrna"] == {
        "preset": "circrna",
        "mode": "on_demand",
        "endpoint_name": "seqserve-service-circrna",
        "endpoint_config_name": None,
        "idle_minutes": 15,
        # Its Lambda-hosted model (issue 21): an on_demand CPU model served by ONNX Runtime.
        "serving_function": "${" + logical_id_of(template, "AWS::Lambda::Function", "Model-circrna") + "}",
    }
    # The artifact given in config makes an endpoint configuration the Lambdas start from.
    assert "Model-aptamers/Serving/EndpointConfig" in config_names[models["aptamers"]["endpoint_config_name"]]
    specialty = template["Resources"][logical_id_of(template, "AWS::SageMaker::Endpoint", "Model-specialty")]
    assert [(m["mode"], m["endpoint_name"]) for m in models.values()] == [
        ("on_demand", "seqserve-service-circrna"),
        ("on_demand", "seqserve-service-aptamers"),
        ("serverless", "seqserve-service-proteins"),
        ("always_on", specialty["Properties"]["EndpointName"]),
    ]
    settings = parse_settings(
        {
            "MODELS": json.dumps(models),
            "STATE_TABLE": "t",
            "MAX_INPUTS": env["MAX_INPUTS"],
            "ENDPOINT_PREFIX": env["ENDPOINT_PREFIX"],
        }
    )
    assert settings.models["circrna"].endpoint_config_name is None
    assert settings.models["aptamers"].idle_minutes == 10


def test_invoker_invokes_only_these_endpoints_and_wakes_only_on_demand_ones(full):
    allowed = role_permissions(full, "Invoker")
    endpoint = f"{SAGEMAKER}:endpoint/seqserve-service-"
    specialty = next(r for r in allowed["sagemaker:invokeendpoint"] if "specialty" in r)
    assert allowed["sagemaker:invokeendpoint"] == {
        *(endpoint + name for name in ("circrna", "aptamers", "proteins")),
        specialty,
    }
    create = allowed["sagemaker:createendpoint"]
    assert {r for r in create if ":endpoint/" in r} == {endpoint + "circrna", endpoint + "aptamers"}
    configs = {r for r in create if ":endpoint-config/" in r}
    assert f"{SAGEMAKER}:endpoint-config/seqserve-service-circrna-*" in configs
    assert f"{SAGEMAKER}:endpoint-config/seqserve-service-aptamers-*" in configs
    assert any(re.search(r"endpoint-config/seqserve-service-aptamers-[0-9a-f]{12}$", r) for r in configs)
    # /status describes every endpoint: on_demand ones to wake them, the others to report their state.
    assert allowed["sagemaker:describeendpoint"] == allowed["sagemaker:invokeendpoint"]
    # POST /models/{m}/sleep (issue 13) deletes only on-demand endpoints.
    assert allowed["sagemaker:deleteendpoint"] == {endpoint + "circrna", endpoint + "aptamers"}
    assert not any(a.startswith("events:") for a in allowed)
    assert any(TABLE_ARN.fullmatch(table) for table in allowed["dynamodb:updateitem"])
    state_tables = {t for t in allowed["dynamodb:updateitem"] if TABLE_ARN.fullmatch(t)}
    assert allowed["dynamodb:getitem"] >= state_tables
    # The usage history: transitions, request counts, the usage report's query.
    history = allowed["dynamodb:query"]
    assert (
        len(history) == 1
        and history <= allowed["dynamodb:putitem"]
        and history <= allowed["dynamodb:updateitem"]
    )
    # PutItem: never on the state table (jobs and history only).
    assert {a for a in allowed if a.startswith("dynamodb:")} == {
        "dynamodb:getitem",
        "dynamodb:updateitem",
        "dynamodb:putitem",
        "dynamodb:query",
    }
    assert not any("StateTable" in r for r in allowed["dynamodb:putitem"])


def test_idle_checker_reconciles_only_this_apps_endpoints(full):
    allowed = role_permissions(full, "IdleChecker")
    endpoint = f"{SAGEMAKER}:endpoint/seqserve-service-"
    untracked = f"{SAGEMAKER}:endpoint/seqserve-*"
    assert allowed["sagemaker:deleteendpoint"] == {endpoint + "circrna", endpoint + "aptamers", untracked}
    assert allowed["sagemaker:describeendpoint"] == {endpoint + "circrna", endpoint + "aptamers", untracked}
    create = allowed["sagemaker:createendpoint"]
    assert {r for r in create if ":endpoint/" in r} == {endpoint + "circrna", endpoint + "aptamers"}
    assert f"{SAGEMAKER}:endpoint-config/seqserve-service-circrna-*" in create
    assert allowed["sagemaker:listendpoints"] == {"*"}
    # Whose an endpoint with the prefix is: its tags (ListTags takes the endpoint's ARN).
    assert allowed["sagemaker:listtags"] == {untracked}
    assert "sagemaker:invokeendpoint" not in allowed
    assert not any(a.startswith("events:") for a in allowed)
    assert allowed["sns:publish"] == {"${NotificationsTopicAE679CBD}"}
    assert {a for a in allowed if a.startswith("dynamodb:")} == {
        "dynamodb:getitem",
        "dynamodb:updateitem",
        "dynamodb:deleteitem",
        "dynamodb:putitem",
    }


def test_no_function_reserves_concurrency_and_the_invoker_answers_before_api_gateway(full):
    # A new account may not reserve any (its unreserved concurrency may not drop below 10): the
    # reconciler's runs are kept apart by a lock item in the state table instead (run_lock).
    for name in ("IdleChecker", "Invoker", "JobRunner"):
        assert "ReservedConcurrentExecutions" not in function(full, name)["Properties"], name
    lock_writes = role_permissions(full, "IdleChecker")
    assert any(TABLE_ARN.fullmatch(r) for r in lock_writes["dynamodb:putitem"])
    assert any(TABLE_ARN.fullmatch(r) for r in lock_writes["dynamodb:deleteitem"])
    # API Gateway gives up at 29 s: the invoker's timeout leaves room for the response.
    assert function(full, "Invoker")["Properties"]["Timeout"] < 29


def test_only_xray_and_the_topic_key_are_unscoped(full):
    for name in ("Invoker", "IdleChecker"):
        allowed = role_permissions(full, name)
        unscoped = {action for action, resources in allowed.items() if "*" in resources}
        expected = {"xray:puttracesegments", "xray:puttelemetryrecords"}
        if name == "IdleChecker":
            expected.add("sagemaker:listendpoints")  # no resource-level permission exists for it
        assert unscoped == expected, name
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
            r"get_item|update_item|put_item|delete_item|enable_rule|disable_rule|publish|query)\(",
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
        "delete_item": "dynamodb",
        "enable_rule": "events",
        "disable_rule": "events",
        "publish": "sns",
        "query": "dynamodb",
    }
    missing = {f"{services[c]}:{c.replace('_', '')}" for c in calls} - set(granted)
    assert calls and not missing
    # The reconciler lists endpoints through a paginator, which the pattern above cannot see.
    assert '"list_endpoints"' in source and "sagemaker:listendpoints" in granted
    # ...nor the tags the reconciler reads to tell this deployment's endpoints apart (issue 18).
    assert '"list_tags"' in source and "sagemaker:listtags" in granted


def test_endpoints_are_deleted_updated_and_created_only_as_this_deployments(full):
    """IAM holds the ownership rule too: Delete/UpdateEndpoint only on an endpoint carrying this
    deployment's tag, CreateEndpoint (and the AddTags it needs) only tagging it so."""
    template = full.service.to_json()
    checked: set[str] = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = {a.lower() for a in as_list(statement["Action"])}
            if not any(":endpoint/" in text(r) for r in as_list(statement["Resource"])):
                continue
            for action in actions & {"sagemaker:deleteendpoint", "sagemaker:updateendpoint"}:
                assert statement.get("Condition") == OWNED, statement
                checked.add(action)
            for action in actions & {"sagemaker:createendpoint", "sagemaker:addtags"}:
                assert statement["Condition"]["StringEquals"] == TAGGING, statement
                checked.add(action)
    assert checked == {
        "sagemaker:deleteendpoint",
        "sagemaker:updateendpoint",
        "sagemaker:createendpoint",
        "sagemaker:addtags",
    }


def test_every_endpoint_creator_may_tag_the_endpoints_it_creates(full):
    on_demand = {f"{SAGEMAKER}:endpoint/seqserve-service-{m}" for m in ("circrna", "aptamers")}
    for name in ("Invoker", "IdleChecker", "JobRunner"):
        allowed = role_permissions(full, name)
        assert {r for r in allowed["sagemaker:createendpoint"] if ":endpoint/" in r} == on_demand, name
        assert allowed["sagemaker:addtags"] == on_demand, name


def test_cloudformations_endpoints_carry_the_ownership_tag_too(full):
    endpoints = full.service.find_resources("AWS::SageMaker::Endpoint").values()
    assert len(endpoints) == 2  # serverless and always_on
    for endpoint in endpoints:
        tags = {t["Key"]: t["Value"] for t in endpoint["Properties"]["Tags"]}
        assert tags["seqserve:deployment"] == "seqserve-service"
