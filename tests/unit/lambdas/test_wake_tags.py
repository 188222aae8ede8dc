"""The deployment's tags reach the endpoints the invoker creates (CloudFormation never sees them)."""

from __future__ import annotations

import json

import pytest
from lambdas_testkit import call
from seqserve_common.settings import SettingsError, parse_settings

BODY = json.dumps({"inputs": "ACGUACGU"})


def endpoint_tags(aws) -> dict[str, str]:
    arn = aws.sagemaker.describe_endpoint(EndpointName="circrna-endpoint")["EndpointArn"]
    return {t["Key"]: t["Value"] for t in aws.sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def test_a_wake_tags_the_endpoint_with_the_deployment_tags(aws, environ, make_invoker):
    environ["TAGS"] = json.dumps({"team": "genomics", "cost-center": "CC 1234"})
    assert call(make_invoker(), "POST", "/models/circrna/predict", BODY).status == 503
    assert endpoint_tags(aws) == {"team": "genomics", "cost-center": "CC 1234"}


def test_without_tags_the_endpoint_is_created_untagged(aws, make_invoker):
    assert call(make_invoker(), "POST", "/models/circrna/predict", BODY).status == 503
    assert endpoint_tags(aws) == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [("{", "TAGS is not valid JSON"), ('["a"]', "JSON object of strings"), ('{"a": 1}', "JSON object")],
)
def test_bad_tags_variable_names_it(environ, raw, message):
    environ["TAGS"] = raw
    with pytest.raises(SettingsError, match=message):
        parse_settings(environ)
