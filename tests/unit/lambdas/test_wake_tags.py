"""The deployment's tags reach the endpoints the invoker creates (CloudFormation never sees them)."""

from __future__ import annotations

import json

import pytest
from lambdas_testkit import DEPLOYMENT, call
from seqserve_common.settings import SettingsError, parse_settings

BODY = json.dumps({"inputs": "ACGUACGU"})


def endpoint_tags(aws) -> dict[str, str]:
    arn = aws.sagemaker.describe_endpoint(EndpointName="circrna-endpoint")["EndpointArn"]
    return {t["Key"]: t["Value"] for t in aws.sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def test_a_wake_tags_the_endpoint_with_the_deployment_tags(aws, environ, make_invoker):
    environ["TAGS"] = json.dumps({"team": "genomics", "cost-center": "CC 1234"})
    assert call(make_invoker(), "POST", "/models/circrna/predict", BODY).status == 503
    assert endpoint_tags(aws) == {
        "team": "genomics",
        "cost-center": "CC 1234",
        "seqserve:deployment": DEPLOYMENT,
    }


def test_without_tags_the_endpoint_carries_only_the_ownership_tag(aws, make_invoker):
    assert call(make_invoker(), "POST", "/models/circrna/predict", BODY).status == 503
    assert endpoint_tags(aws) == {"seqserve:deployment": DEPLOYMENT}


def test_tags_may_not_claim_the_ownership_tag(environ):
    environ["TAGS"] = json.dumps({"seqserve:deployment": "someone-else"})
    with pytest.raises(SettingsError, match="DEPLOYMENT_NAME"):
        parse_settings(environ)


@pytest.mark.parametrize(
    ("raw", "message"),
    [("{", "TAGS is not valid JSON"), ('["a"]', "JSON object of strings"), ('{"a": 1}', "JSON object")],
)
def test_bad_tags_variable_names_it(environ, raw, message):
    environ["TAGS"] = raw
    with pytest.raises(SettingsError, match=message):
        parse_settings(environ)
