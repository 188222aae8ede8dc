"""cdk-nag AwsSolutions on both stacks of both test apps: no unsuppressed finding; suppressions explain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Annotations, Match

MODEL_CODE = Path(__file__).resolve().parents[3] / "model_code"


@pytest.mark.parametrize("app", ["full", "iam_app"])
def test_no_unsuppressed_nag_errors_or_warnings(app, request):
    built = request.getfixturevalue(app)
    for stack in (built.stacks.stateful, built.stacks.service):
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert [f"{e.id}: {str(e.entry.data)[:120]}" for e in errors + warnings] == []


def test_nag_did_run_and_suppressions_name_a_rule_and_a_specific_reason(full):
    reports = sorted(p.name for p in full.outdir.glob("AwsSolutions-*-NagReport.csv"))
    assert reports == [
        "AwsSolutions--seqserve-service-NagReport.csv",
        "AwsSolutions--seqserve-stateful-NagReport.csv",
    ]
    lines = (full.outdir / reports[0]).read_text().splitlines()
    suppressed = [line for line in lines if '"Suppressed"' in line]
    assert suppressed, "the service stack has suppressed findings with reasons"
    template = full.service.to_json()
    reasons = [
        suppression
        for resource in template["Resources"].values()
        for suppression in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert reasons
    for suppression in reasons:
        assert suppression["id"].startswith("AwsSolutions-")
        assert len(suppression["reason"]) >= 40


def test_iam_mode_needs_no_api_key_suppression(iam_app):
    template = iam_app.service.to_json()
    suppressions = [
        (resource, suppression)
        for resource in template["Resources"].values()
        for suppression in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    ids = {suppression["id"] for _, suppression in suppressions}
    # Only the pages a browser navigates to (console, API document) go without auth in IAM mode.
    unauthenticated = [r for r, s in suppressions if s["id"] == "AwsSolutions-APIG4"]
    assert unauthenticated and all(r["Type"] == "AWS::ApiGateway::Method" for r in unauthenticated)
    assert all(r["Properties"]["HttpMethod"] == "GET" for r in unauthenticated)
    assert len(unauthenticated) == 3
    assert "AwsSolutions-COG4" in ids


def test_synth_is_deterministic(tmp_path):
    """Same config and sources, same templates and asset hashes: no clock, no lookups, no randomness."""
    import shutil

    import aws_cdk as cdk

    from stacks.app_builder import build_app
    from stacks.config import parse_deployment
    from tests.unit.stacks.conftest import IAM_CONTEXT, feature_flags

    # A snapshot, since model_code/ may change between two builds from the working tree.
    sources = shutil.copytree(
        MODEL_CODE, tmp_path / "model_code", ignore=shutil.ignore_patterns("__pycache__")
    )
    templates = []
    for run in ("one", "two"):
        app = cdk.App(outdir=str(tmp_path / run), context=feature_flags())
        build_app(app, parse_deployment(IAM_CONTEXT), model_code=sources)
        assembly = app.synth()
        templates.append([json.dumps(stack.template, sort_keys=True) for stack in assembly.stacks])
    assert templates[0] == templates[1]
    # A stack with a region gets the SDK's literal image URI for it (no region mapping).
    assert "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:" in templates[0][1]
    assert "PyTorchTrainingImageRegistry" not in templates[0][1]
