"""The REST API: every route proxies to the invoker Lambda; predict bodies are validated first.

Auth is an API key with a usage plan (rate, burst, daily quota) or IAM (SigV4). API Gateway's own
errors (validation, auth, throttling) answer with the API's error body ``{"error": {code, message}}``.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import ApiConfig
from stacks.gateway_errors import CLIENT_ERROR, GATEWAY_ERROR

STAGE = "v1"
PREDICT_PATH = "/models/{model}/predict"


def _pair() -> dict[str, object]:
    return {
        "type": "object",
        "required": ["text", "text_pair"],
        "properties": {
            "text": {"type": "string", "minLength": 1},
            "text_pair": {"type": "string", "minLength": 1},
        },
        "additionalProperties": False,
    }


def predict_schema() -> dict[str, object]:
    """The predict body of DESIGN.md: a sequence, a list of them, a pair, or a list of pairs.

    No maxItems: too many inputs is a 413 (DESIGN.md), which the invoker answers; API Gateway's
    validator can only answer 400.
    """
    sequence = {"type": "string", "minLength": 1}
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "inputs": {
                "anyOf": [
                    sequence,
                    _pair(),
                    {"type": "array", "minItems": 1, "items": sequence},
                    {"type": "array", "minItems": 1, "items": _pair()},
                ]
            },
            "parameters": {
                "type": "object",
                "properties": {"top_k": {"type": "integer", "minimum": 1}},
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    }


_TYPES = {
    "object": apigw.JsonSchemaType.OBJECT,
    "array": apigw.JsonSchemaType.ARRAY,
    "string": apigw.JsonSchemaType.STRING,
    "integer": apigw.JsonSchemaType.INTEGER,
}
_KEYWORDS = {
    "required": "required",
    "minLength": "min_length",
    "minItems": "min_items",
    "minimum": "minimum",
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


# (response type, status, error code, message as JSON) for API Gateway's own answers. messageString
# arrives quoted; validationErrorString arrives raw, so the template quotes it.
GATEWAY_ERRORS = (
    (apigw.ResponseType.BAD_REQUEST_BODY, "400", "invalid_input", '"$context.error.validationErrorString"'),
    (apigw.ResponseType.THROTTLED, "429", "throttled", "$context.error.messageString"),
    (apigw.ResponseType.QUOTA_EXCEEDED, "429", "quota_exceeded", "$context.error.messageString"),
    (apigw.ResponseType.DEFAULT_4_XX, None, CLIENT_ERROR, "$context.error.messageString"),
    (apigw.ResponseType.DEFAULT_5_XX, None, GATEWAY_ERROR, "$context.error.messageString"),
)


class PredictionApi(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: ApiConfig, handler: lambda_.IFunction
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
            description="seqserve: predict with, inspect and wake the deployed models",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
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
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=[
                    "Content-Type",
                    "X-Api-Key",
                    "Authorization",
                    "X-Amz-Date",
                    "X-Amz-Security-Token",
                    "Prefer",
                ],
            ),
            default_method_options=method_options,
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
        models = self.api.root.add_resource("models")
        models.add_method("GET", integration)
        model = models.add_resource("{model}")
        model.add_resource("predict").add_method(
            "POST",
            integration,
            request_validator=validator,
            request_models={"application/json": request_model},
        )
        model.add_resource("status").add_method("GET", integration)
        model.add_resource("wake").add_method("POST", integration)
        self.api.root.add_resource("jobs").add_resource("{job_id}").add_method("GET", integration)
        self._gateway_errors(config)
        if api_key_auth:
            self._usage_plan(config)
        CfnOutput(self, "Url", value=self.api.url, description="seqserve REST API base URL")

    def _gateway_errors(self, config: ApiConfig) -> None:
        origin = config.cors_origins[0] if len(config.cors_origins) == 1 else None
        headers = {"Access-Control-Allow-Origin": f"'{origin}'"} if origin else None
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
