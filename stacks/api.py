"""The REST API: every route proxies to the invoker Lambda; predict bodies are validated first.

Auth is an API key with a usage plan (rate, burst, daily quota) or IAM (SigV4). API Gateway's own
errors (validation, auth, throttling) answer with the API's error body ``{"error": {code, message}}``.
"""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.api_document import (
    CORS_ALLOW_HEADERS,
    CORS_ALLOW_METHODS,
    CORS_EXPOSE_HEADERS,
    PREDICT_PATH,
    PUBLIC_PATHS,
    STAGE,
    load_document,
    request_schema,
    routes,
)
from stacks.config import ApiConfig
from stacks.gateway_errors import CLIENT_ERROR, GATEWAY_ERROR


def predict_schema() -> dict[str, object]:
    """The predict body of DESIGN.md, as the committed OpenAPI document (the invoker's typed route)
    says: a sequence, a list of them, a pair, or a list of pairs.

    No maxItems: too many inputs is a 413 (DESIGN.md), which the invoker answers; API Gateway's
    validator can only answer 400.
    """
    return request_schema(load_document())


_TYPES = {
    "object": apigw.JsonSchemaType.OBJECT,
    "array": apigw.JsonSchemaType.ARRAY,
    "string": apigw.JsonSchemaType.STRING,
    "integer": apigw.JsonSchemaType.INTEGER,
    "null": apigw.JsonSchemaType.NULL,
}
_KEYWORDS = {
    "required": "required",
    "minLength": "min_length",
    "minItems": "min_items",
    "minimum": "minimum",
    "pattern": "pattern",
    "additionalProperties": "additional_properties",
}


def to_json_schema(schema: dict, *, root: bool = False) -> apigw.JsonSchema:
    """The plain-dict schema (testable with any validator) as CDK's typed JsonSchema."""
    kwargs: dict[str, object] = {_KEYWORDS[k]: v for k, v in schema.items() if k in _KEYWORDS}
    if "type" in schema:
        kwargs["type"] = _TYPES[schema["type"]]
    if "properties" in schema:
        kwargs["properties"] = {k: to_json_schema(v) for k, v in schema["properties"].items()}
    if "items" in schema:
        kwargs["items"] = to_json_schema(schema["items"])
    if "anyOf" in schema:
        kwargs["any_of"] = [to_json_schema(s) for s in schema["anyOf"]]
    if root:
        kwargs["schema"] = apigw.JsonSchemaVersion.DRAFT4
    return apigw.JsonSchema(**kwargs)


# Gateway response templates are not run by VTL: API Gateway only substitutes $context variables
# (developer guide, x-amazon-apigateway-gateway-responses.responseTemplates). validationErrorString
# arrives raw, with double quotes ([object has missing required properties (["inputs"])]), so it cannot
# go inside a JSON string: the body names the input and what it must be instead.
VALIDATION_MESSAGE = json.dumps(
    'body: not a predict request; expected {"inputs": X, "parameters": {"top_k": N}} where X is a '
    'sequence, a list of sequences, a pair {"text": a, "text_pair": b} or a list of pairs '
    "(GET /openapi.json has the schema)"
)
# (response type, status, error code, message as JSON) for API Gateway's own answers. messageString
# arrives quoted.
GATEWAY_ERRORS = (
    (apigw.ResponseType.BAD_REQUEST_BODY, "400", "invalid_input", VALIDATION_MESSAGE),
    (apigw.ResponseType.THROTTLED, "429", "throttled", "$context.error.messageString"),
    (apigw.ResponseType.QUOTA_EXCEEDED, "429", "quota_exceeded", "$context.error.messageString"),
    (apigw.ResponseType.DEFAULT_4_XX, None, CLIENT_ERROR, "$context.error.messageString"),
    (apigw.ResponseType.DEFAULT_5_XX, None, GATEWAY_ERROR, "$context.error.messageString"),
)


class PredictionApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ApiConfig,
        handler: lambda_.IFunction,
        name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        api_key_auth = config.auth == "api_key"
        method_options = (
            apigw.MethodOptions(api_key_required=True)
            if api_key_auth
            else apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM)
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=name,
            description="seqserve: predict with, inspect and wake the deployed models",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway's CloudWatch role is one setting per account and region: a stack that owned it
            # would break other APIs' logging when destroyed. It is set once per account (README).
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=config.rate_limit_rps,
                throttling_burst_limit=config.burst,
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(config.cors_origins),
                allow_methods=list(CORS_ALLOW_METHODS),
                allow_headers=list(CORS_ALLOW_HEADERS),
            ),
            default_method_options=method_options,
            # The confusion-matrix plot: the console fetches it with Accept: image/png.
            binary_media_types=["image/png"],
        )
        integration = apigw.LambdaIntegration(handler, proxy=True)
        validator = self.api.add_request_validator(
            "Validator",
            request_validator_name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        request_model = self.api.add_model(
            "PredictRequest",
            content_type="application/json",
            model_name="PredictRequest",
            schema=to_json_schema(predict_schema(), root=True),
        )
        # Every route of the committed OpenAPI document, which the invoker's typed routes generate.
        public = apigw.MethodOptions(authorization_type=apigw.AuthorizationType.NONE, api_key_required=False)
        for path, methods in routes(load_document()).items():
            resource = self.api.root.resource_for_path(path)
            for method in methods:
                if path == PREDICT_PATH and method == "POST":
                    resource.add_method(
                        method,
                        integration,
                        request_validator=validator,
                        request_models={"application/json": request_model},
                    )
                elif path in PUBLIC_PATHS:
                    # The console and the document: a browser navigating there cannot send a key; the
                    # page then asks for the key and sends it on its API calls.
                    page = resource.add_method(
                        method,
                        integration,
                        authorization_type=public.authorization_type,
                        api_key_required=public.api_key_required,
                    )
                    NagSuppressions.add_resource_suppressions(
                        page,
                        [
                            {
                                "id": rule,
                                "reason": f"{path} is the console page or the API document: static, "
                                "no model data; a browser opens it by navigating and cannot send a key first",
                            }
                            for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4")
                        ],
                    )
                else:
                    resource.add_method(method, integration)
        self._gateway_errors(config)
        if api_key_auth:
            self._usage_plan(config)
        CfnOutput(self, "Url", value=self.api.url, description="seqserve REST API base URL")

    def _gateway_errors(self, config: ApiConfig) -> None:
        # One configured origin (or "*") is sent as is; several are answered with the caller's Origin,
        # since a gateway response cannot pick from a list (the Lambda's answers do pick).
        origin = (
            f"'{config.cors_origins[0]}'" if len(config.cors_origins) == 1 else "method.request.header.Origin"
        )
        if "*" in config.cors_origins:
            origin = "'*'"
        headers = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": f"'{','.join(CORS_EXPOSE_HEADERS)}'",
        }
        for response_type, status, code, message in GATEWAY_ERRORS:
            self.api.add_gateway_response(
                f"{code.title().replace('_', '')}Response",
                type=response_type,
                status_code=status,
                response_headers=headers,
                templates={"application/json": f'{{"error": {{"code": "{code}", "message": {message}}}}}'},
            )

    def _usage_plan(self, config: ApiConfig) -> None:
        self.api_key = self.api.add_api_key("ApiKey", description="seqserve client key")
        plan = self.api.add_usage_plan(
            "UsagePlan",
            description="seqserve clients",
            throttle=apigw.ThrottleSettings(rate_limit=config.rate_limit_rps, burst_limit=config.burst),
            quota=apigw.QuotaSettings(limit=config.quota_per_day, period=apigw.Period.DAY),
        )
        plan.add_api_stage(stage=self.api.deployment_stage)
        plan.add_api_key(self.api_key)
        CfnOutput(
            self,
            "ApiKeyId",
            value=self.api_key.key_id,
            description="aws apigateway get-api-key --include-value --api-key <this id>",
        )
