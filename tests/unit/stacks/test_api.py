"""The REST API: routes, validation, auth modes, usage plan, logging, tracing, CORS, error bodies."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from stacks.api import predict_schema
from stacks.gateway_errors import CLIENT_ERROR, GATEWAY_ERROR
from tests.unit.stacks.conftest import feature_flags


def methods(built) -> dict[tuple[str, str], dict]:
    template = built.service.to_json()
    resources = template["Resources"]
    paths = {}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::ApiGateway::Resource":
            paths[logical_id] = (
                resource["Metadata"]["aws:cdk:path"].split("/Default", 1)[1].removesuffix("/Resource")
            )
    found = {}
    for resource in resources.values():
        if resource["Type"] == "AWS::ApiGateway::Method":
            parent = resource["Properties"]["ResourceId"]
            path = paths.get(parent.get("Ref"), "/") if isinstance(parent, dict) else "/"
            found[(resource["Properties"]["HttpMethod"], path)] = resource["Properties"]
    return found


ROUTES = {
    ("GET", "/models"),
    ("POST", "/models/{name}/predict"),
    ("GET", "/models/{name}/status"),
    ("POST", "/models/{name}/wake"),
}


def test_routes_proxy_to_the_invoker(full):
    found = methods(full)
    assert set(found) >= ROUTES
    for route in ROUTES:
        integration = found[route]["Integration"]
        assert integration["Type"] == "AWS_PROXY", route
        assert "FunctionsInvoker" in json.dumps(integration["Uri"]), route


def test_api_key_mode_requires_a_key_and_a_usage_plan(full):
    found = methods(full)
    for route in ROUTES:
        assert found[route]["ApiKeyRequired"] is True, route
        assert found[route]["AuthorizationType"] == "NONE", route
    full.service.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {"Throttle": {"RateLimit": 20, "BurstLimit": 40}, "Quota": {"Limit": 5000, "Period": "DAY"}},
    )
    full.service.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    full.service.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)


def test_iam_mode_signs_requests_and_has_no_key(iam_app):
    found = methods(iam_app)
    for route in ROUTES:
        assert found[route]["AuthorizationType"] == "AWS_IAM", route
        assert not found[route].get("ApiKeyRequired", False), route
    iam_app.service.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    iam_app.service.resource_count_is("AWS::ApiGateway::ApiKey", 0)


def test_cors_preflight_answers_without_auth(full):
    found = methods(full)
    options = found[("OPTIONS", "/models/{name}/predict")]
    assert options["AuthorizationType"] == "NONE" and not options.get("ApiKeyRequired", False)
    headers = options["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
    assert headers["method.response.header.Access-Control-Allow-Origin"] == "'*'"
    assert "X-Api-Key" in headers["method.response.header.Access-Control-Allow-Headers"]


def test_predict_validates_the_body_against_the_model(full):
    predict = methods(full)[("POST", "/models/{name}/predict")]
    assert predict["RequestValidatorId"]
    assert set(predict["RequestModels"]) == {"application/json"}
    full.service.has_resource_properties(
        "AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True, "ValidateRequestParameters": True}
    )
    model = next(iter(full.service.find_resources("AWS::ApiGateway::Model").values()))["Properties"]
    assert model["ContentType"] == "application/json"
    assert model["Schema"]["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert model["Schema"]["required"] == ["inputs"]
    # Too many inputs is the invoker's 413 (DESIGN.md); the gateway's validator could only say 400.
    assert "maxItems" not in json.dumps(model["Schema"])


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": "ACGT"},
        {"inputs": ["ACGT", "GGCC"]},
        {"inputs": {"text": "a", "text_pair": "b"}},
        {"inputs": [{"text": "a", "text_pair": "b"}], "parameters": {"top_k": 2}},
        {"inputs": ["x"] * 65},
    ],
)
def test_schema_accepts_the_design_payloads(body):
    jsonschema.Draft4Validator(predict_schema()).validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"inputs": ""},
        {"inputs": []},
        {"inputs": 5},
        {"inputs": {"text": "a"}},
        {"inputs": "x", "parameters": {"top_k": 0}},
        {"inputs": "x", "parameters": {"top_k": 1.5}},
        {"inputs": "x", "extra": 1},
    ],
)
def test_schema_rejects_bad_payloads(body):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(predict_schema()).validate(body)


def test_stage_logs_traces_throttles_and_exports_the_url(full):
    (stage,) = full.service.find_resources("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    assert properties["StageName"] == "v1"
    assert properties["TracingEnabled"] is True
    access_log_group = properties["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    group = full.service.to_json()["Resources"][access_log_group]
    assert group["Type"] == "AWS::Logs::LogGroup" and group["Properties"]["RetentionInDays"] == 90
    assert "$context.requestId" in properties["AccessLogSetting"]["Format"]
    assert properties["MethodSettings"] == [
        {
            "DataTraceEnabled": False,
            "HttpMethod": "*",
            "LoggingLevel": "INFO",
            "MetricsEnabled": True,
            "ResourcePath": "/*",
            "ThrottlingBurstLimit": 40,
            "ThrottlingRateLimit": 20,
        }
    ]
    outputs = full.service.to_json()["Outputs"]
    url = [o for key, o in outputs.items() if key.startswith("ApiUrl")]
    assert len(url) == 1 and "execute-api" in json.dumps(url[0]["Value"])
    assert any(key.startswith("ApiApiKeyId") for key in outputs)


# Values of the shapes API Gateway substitutes: validationErrorString raw (quotes, and whatever a client
# put in a property name), messageString already a JSON string.
VALIDATION_ERRORS = (
    '[object has missing required properties (["inputs"])]',
    '[object instance has properties which are not allowed by the schema: ["it\'s"]]',
    '[string "" is too short (length: 0, required minimum: 1)]; path \\ "/inputs" \u00e9\t\u2603',
)


def gateway_responses(built) -> dict[str, dict]:
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in built.service.find_resources("AWS::ApiGateway::GatewayResponse").values()
    }


def test_gateway_errors_use_the_api_error_body(full):
    responses = gateway_responses(full)
    assert set(responses) == {"BAD_REQUEST_BODY", "THROTTLED", "QUOTA_EXCEEDED", "DEFAULT_4XX", "DEFAULT_5XX"}
    assert responses["BAD_REQUEST_BODY"]["StatusCode"] == "400"
    assert responses["THROTTLED"]["StatusCode"] == "429"
    assert responses["QUOTA_EXCEEDED"]["StatusCode"] == "429"


def substitute(template: str, context: dict) -> str:
    """What API Gateway does with a gateway response template: replace each ``$context.x.y`` with its
    value and nothing else (no VTL: developer guide, x-amazon-apigateway-gateway-responses)."""

    def value(match: re.Match) -> str:
        found: object = context
        for part in match.group(1).split("."):
            found = found[part]
        return str(found)

    return re.sub(r"\$context\.([A-Za-z]+(?:\.[A-Za-z]+)*)", value, template)


@pytest.mark.parametrize("validation_error", VALIDATION_ERRORS)
def test_every_gateway_error_template_renders_json(full, validation_error):
    codes = {
        "BAD_REQUEST_BODY": "invalid_input",
        "THROTTLED": "throttled",
        "QUOTA_EXCEEDED": "quota_exceeded",
        # The local REST API answers its 403/502/504 with these same bodies.
        "DEFAULT_4XX": CLIENT_ERROR,
        "DEFAULT_5XX": GATEWAY_ERROR,
    }
    message = "Invalid request body"
    context = {"error": {"validationErrorString": validation_error, "messageString": json.dumps(message)}}
    for response_type, properties in gateway_responses(full).items():
        template = properties["ResponseTemplates"]["application/json"]
        rendered = json.loads(substitute(template, context))
        assert set(rendered) == {"error"} and rendered["error"]["code"] == codes[response_type]
        if response_type == "BAD_REQUEST_BODY":
            assert rendered["error"]["message"].startswith("body: not a predict request")
        else:
            assert rendered["error"]["message"] == message, response_type


def test_api_is_named_from_the_prefix_and_leaves_the_account_setting_alone(full, iam_app):
    # The CloudWatch role of API Gateway is one per account and region: owning it (with DESTROY) would
    # break other APIs' logging on `cdk destroy`; a fixed name "Api" would mix two deployments' metrics.
    for built, name in ((full, "seqserve-api"), (iam_app, "iamauth-api")):
        built.service.resource_count_is("AWS::ApiGateway::Account", 0)
        (api,) = built.service.find_resources("AWS::ApiGateway::RestApi").values()
        assert api["Properties"]["Name"] == name
    assert feature_flags()["@aws-cdk/aws-apigateway:disableCloudWatchRole"] is True


def test_every_route_of_the_openapi_document_is_deployed(full):
    from stacks.api_document import PUBLIC_PATHS, load_document, routes

    found = methods(full)
    documented = {(method, path) for path, verbs in routes(load_document()).items() for method in verbs}
    assert documented >= ROUTES | {("GET", "/"), ("GET", "/console"), ("GET", "/openapi.json")}
    assert documented <= set(found)
    for method, path in documented:
        # A browser opens the console and the document by navigating, with no key to send.
        assert found[(method, path)]["ApiKeyRequired"] is (path not in PUBLIC_PATHS), (method, path)


def test_predict_model_is_the_documents_request_schema(full):
    from stacks.api_document import load_document, request_schema

    model = next(iter(full.service.find_resources("AWS::ApiGateway::Model").values()))["Properties"]
    schema = {key: value for key, value in model["Schema"].items() if key != "$schema"}
    assert schema == request_schema(load_document())


def test_gateway_errors_let_browsers_read_them_and_retry_after(full):
    for response in full.service.find_resources("AWS::ApiGateway::GatewayResponse").values():
        headers = response["Properties"]["ResponseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
        assert "Retry-After" in headers["gatewayresponse.header.Access-Control-Expose-Headers"]
