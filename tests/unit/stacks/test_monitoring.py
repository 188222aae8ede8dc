"""Per-model dashboards and alarms, all notifying the topic."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.stacks.template_text import text


def alarms(built) -> dict[str, dict]:
    return {
        resource["Metadata"]["aws:cdk:path"]: resource["Properties"]
        for resource in built.service.find_resources("AWS::CloudWatch::Alarm").values()
    }


def test_every_alarm_notifies_the_topic(full):
    (topic_id,) = full.service.find_resources("AWS::SNS::Topic")
    found = alarms(full)
    # Per model: failed training and failed endpoint, and for the two on-demand models an adopted
    # orphan and reconciler errors; one 5xx-rate alarm for the shared API; three app-wide reconciler ones;
    # one on the queued predictions' dead-letter queue.
    assert len(found) == 4 * 2 + 2 * 2 + 1 + 3 + 1
    for properties in found.values():
        assert properties["AlarmActions"] == [{"Ref": topic_id}]


def test_training_failure_alarm_watches_the_models_state_machine(full):
    properties = alarms(full)["seqserve-service/Model-circrna/Monitoring/TrainingFailed/Resource"]
    assert properties["MetricName"] == "ExecutionsFailed" and properties["Namespace"] == "AWS/States"
    (dimension,) = properties["Dimensions"]
    assert "ModelcircrnaTrainingStateMachine" in json.dumps(dimension["Value"])
    assert properties["Threshold"] == 1


def test_endpoint_failure_alarm_uses_the_lifecycle_metric_or_the_endpoint(full):
    on_demand = alarms(full)["seqserve-service/Model-circrna/Monitoring/EndpointFailed/Resource"]
    assert (on_demand["Namespace"], on_demand["MetricName"]) == ("seqserve", "Failures")
    assert {d["Name"]: d["Value"] for d in on_demand["Dimensions"]} == {
        "model": "circrna",
        "service": "idle-checker",
    }
    always_on = alarms(full)["seqserve-service/Model-specialty/Monitoring/EndpointFailed/Resource"]
    assert (always_on["Namespace"], always_on["MetricName"]) == ("AWS/SageMaker", "Invocation5XXErrors")
    # always_on endpoint names end in a hash of their instance type (stacks/serving.py).
    assert {d["Name"]: d["Value"] for d in always_on["Dimensions"]} == {
        "EndpointName": full.stacks.service.models["specialty"].serving.endpoint_name,
        "VariantName": "AllTraffic",
    }


def test_api_5xx_rate_alarm_divides_errors_by_requests(full):
    properties = alarms(full)["seqserve-service/ApiServerErrorRate/Resource"]
    expression = next(m for m in properties["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "100 * IF(requests > 0, errors / requests, 0)"
    names = {
        m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in properties["Metrics"] if "MetricStat" in m
    }
    assert names == {"errors": "5XXError", "requests": "Count"}
    assert properties["Threshold"] == 5 and properties["EvaluationPeriods"] == 3


def test_each_model_has_a_dashboard_with_the_issue_widgets(full):
    dashboards = {
        r["Metadata"]["aws:cdk:path"]: text(r["Properties"]["DashboardBody"])
        for r in full.service.find_resources("AWS::CloudWatch::Dashboard").values()
    }
    assert len(dashboards) == 4
    body = dashboards["seqserve-service/Model-circrna/Monitoring/Dashboard/Resource"]
    for title in (
        "API requests",
        "API 4xx / 5xx",
        "API latency (ms)",
        "Model latency",
        "Endpoint invocations",
        "Minutes awake, wakes and sleeps",
    ):
        assert f'\\"title\\":\\"{title}' in body or f'"title":"{title}' in body, title
    for metric in (
        "MinutesAwake",
        "Wakes",
        "Sleeps",
        "Predictions",
        "ModelLatency",
        "Invocations",
        "4XXError",
    ):
        assert metric in body, metric
    assert "seqserve-service-circrna" in body


LAMBDAS = Path(__file__).resolve().parents[3] / "lambdas"
# POWERTOOLS_SERVICE_NAME of each function -> the folder whose code emits its metrics.
SERVICE_CODE = {"invoker": LAMBDAS / "invoker", "idle-checker": LAMBDAS / "idle_checker"}


def test_dashboard_lifecycle_metrics_carry_the_service_that_emits_them(full):
    (dashboard,) = [
        r["Properties"]["DashboardBody"]
        for r in full.service.find_resources("AWS::CloudWatch::Dashboard").values()
        if r["Metadata"]["aws:cdk:path"] == "seqserve-service/Model-circrna/Monitoring/Dashboard/Resource"
    ]
    body = json.loads(text(dashboard).replace("${AWS::Region}", "region"))
    lifecycle = [
        metric[:6]
        for widget in body["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if metric[0] == "seqserve"
    ]
    assert len(lifecycle) >= 4
    for _, name, _, model, _, service in lifecycle:
        assert model == "circrna"
        code = "\n".join(p.read_text() for p in SERVICE_CODE[service].glob("*.py"))
        assert f'emit("{name}"' in code, f"{name} is not emitted by the {service} Lambda"


def test_reconciler_alarms_watch_adopted_orphans_and_errors(full):
    found = alarms(full)
    orphan = found["seqserve-service/Model-circrna/Monitoring/OrphanAdopted/Resource"]
    assert (orphan["Namespace"], orphan["MetricName"], orphan["Threshold"]) == (
        "seqserve",
        "OrphansAdopted",
        1,
    )
    assert {d["Name"]: d["Value"] for d in orphan["Dimensions"]} == {
        "model": "circrna",
        "service": "idle-checker",
    }
    errors = found["seqserve-service/Model-circrna/Monitoring/ReconcilerErrors/Resource"]
    assert errors["MetricName"] == "ReconcilerErrors"
    assert "seqserve-service/Model-specialty/Monitoring/OrphanAdopted/Resource" not in found
    untracked = found["seqserve-service/Reconciler/UntrackedEndpointAdopted/Resource"]
    assert {d["Name"]: d["Value"] for d in untracked["Dimensions"]} == {
        "model": "_app",
        "service": "idle-checker",
    }
    run = found["seqserve-service/Reconciler/ReconcilerRunErrors/Resource"]
    assert (run["Namespace"], run["MetricName"]) == ("AWS/Lambda", "Errors")
