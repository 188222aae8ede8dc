"""The Lambdas' environment (docs/internals.md) and limits, built one way for AWS and for the local stack.

No aws_cdk import: ``stacks/functions.py`` sets this environment on the deployed functions and
``local/`` sets the same on its worker processes, so neither side can drift from the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lambdas.seqserve_common.keep_warm import Window
from stacks.config import ApiConfig, ConfigError, ModelConfig, ServingConfig
from stacks.lambda_sizing import lambda_size

METRICS_NAMESPACE = "seqserve"
# The invoker answers inside API Gateway's 29 s integration limit with room for the response (the
# clients' budgets are in lambdas/seqserve_common/clients.py); the reconciler has no client waiting.
INVOKER_TIMEOUT_SECONDS = 25
IDLE_CHECKER_TIMEOUT_SECONDS = 120
# The Lambda-hosted model (issue 21) answers inside the invoker's own call to it.
MODEL_SERVER_TIMEOUT_SECONDS = INVOKER_TIMEOUT_SECONDS
# Lambda caps a function's environment at 4 KB: every variable's name plus its value.
LAMBDA_ENVIRONMENT_BYTES = 4096
# A value CloudFormation fills in at deploy time (table name, topic ARN) is counted at this many bytes.
DEPLOY_TIME_VALUE_BYTES = 256
TOKEN_MARKER = "${Token["
# The longest POWERTOOLS_SERVICE_NAME a function adds to the shared environment.
SERVICE_NAME_BYTES = len("POWERTOOLS_SERVICE_NAME") + len("idle-checker")


@dataclass(frozen=True, kw_only=True)
class ServedModel:
    """What the Lambdas know about one model: its names and whether they own its endpoint."""

    name: str
    preset: str
    mode: str
    endpoint_name: str
    endpoint_config_name: str | None
    idle_minutes: int
    max_wake_minutes: int = 30
    # Operator features (issue 13): operator_options(serving) fills them.
    keep_warm: tuple[Window, ...] = ()
    warm_lead_minutes: int = 10
    max_lease_minutes: int = 720
    hourly_price: float | None = None
    # What training runs and CloudFormation name this model's SageMaker models and endpoint
    # configurations after (``<base>-...``); the endpoint's own name unless that differs (always_on).
    sagemaker_base: str | None = None
    # The Lambda-hosted model's function name (issue 21; lambdas/model_server), where lambda_served says
    # the model has one: the invoker calls it with lambda:InvokeFunction.
    serving_function: str | None = None

    @property
    def name_base(self) -> str:
        return self.sagemaker_base or self.endpoint_name

    def as_environment(self) -> dict[str, object]:
        """The model's entry in ``MODELS``; optional settings at their default are left out (the Lambdas'
        settings parser has the same defaults), so more models fit Lambda's 4 KB environment."""
        entry: dict[str, object] = {
            "preset": self.preset,
            "mode": self.mode,
            # Mode lambda has no endpoint: the Lambdas take an absent name as "none".
            **({} if self.mode == "lambda" else {"endpoint_name": self.endpoint_name}),
            "endpoint_config_name": self.endpoint_config_name,
            "idle_minutes": self.idle_minutes,
        }
        optional = {
            "max_wake_minutes": self.max_wake_minutes,
            "keep_warm": [window.as_json() for window in self.keep_warm],
            "warm_lead_minutes": self.warm_lead_minutes,
            "max_lease_minutes": self.max_lease_minutes,
            "hourly_price": self.hourly_price,
            "serving_function": self.serving_function,
        }
        defaults = {
            "max_wake_minutes": 30,
            "keep_warm": [],
            "warm_lead_minutes": 10,
            "max_lease_minutes": 720,
        }
        entry.update({k: v for k, v in optional.items() if v is not None and v != defaults.get(k)})
        return entry


def lambda_served(model: ModelConfig) -> bool:
    """Whether the model gets a Lambda-hosted copy (lambdas/model_server): mode ``lambda``, or an
    on_demand model with ``serving.bridge`` (on by default where ONNX on CPU serves it, stacks/config.py),
    small enough for Lambda (stacks/lambda_sizing.py). This is the one place that says so.
    Raises ConfigError for a ``lambda``-mode model too large for Lambda: nothing else could serve it."""
    fits = lambda_size(model).fits
    if model.serving.mode == "lambda" and not fits:
        raise ConfigError(
            f"models.{model.name}.serving.mode: 'lambda' serves from a Lambda function, and preset "
            f"{model.preset}'s model ({lambda_size(model).model_mb:.0f} MB) is too large for one; use mode "
            "'on_demand'"
        )
    return model.serving.lambda_served and fits


def operator_options(serving: ServingConfig) -> dict[str, object]:
    """The ServedModel fields that come from a model's serving config (issue 13's features)."""
    return {
        "keep_warm": serving.keep_warm,
        "warm_lead_minutes": serving.warm_lead_minutes,
        "max_lease_minutes": serving.max_lease_minutes,
        "hourly_price": serving.hourly_price,
    }


def lambda_environment(
    *,
    table_name: str,
    models: Iterable[ServedModel],
    topic_arn: str,
    api: ApiConfig,
    endpoint_prefix: str | None = None,
    history_table: str | None = None,
    deployment: str | None = None,
) -> dict[str, str]:
    """The variables both functions get (each adds its own ``POWERTOOLS_SERVICE_NAME``).

    ``endpoint_prefix``: what every endpoint name of this app starts with; the reconciler lists the
    endpoints with it to adopt the ones no state knows (left out: no such scan).
    ``history_table``: the usage history (issue 13); left out, usage is not recorded.
    ``deployment``: ``DEPLOYMENT_NAME``, the value of the ``seqserve:deployment`` tag on every endpoint
    the functions create (the service stack's name); the reconciler adopts only endpoints carrying it.
    Raises ConfigError when they would not fit Lambda's 4 KB environment (check_environment_size).
    """
    models = tuple(models)
    prefix = {"ENDPOINT_PREFIX": endpoint_prefix} if endpoint_prefix else {}
    history = {"HISTORY_TABLE": history_table} if history_table is not None else {}
    owner = {"DEPLOYMENT_NAME": deployment} if deployment else {}
    environment = {
        **history,
        "STATE_TABLE": table_name,
        "MODELS": models_variable(models),
        "NOTIFY_TOPIC_ARN": topic_arn,
        "MAX_INPUTS": str(api.max_inputs),
        "MAX_BODY_BYTES": str(api.max_body_bytes),
        "CORS_ORIGINS": json.dumps(list(api.cors_origins)),
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        **prefix,
        **owner,
    }
    check_environment_size(environment, model_count=len(models))
    return environment


def tags_environment(tags: Mapping[str, str]) -> dict[str, str]:
    """The invoker's ``TAGS`` (docs/internals.md): the platform tags for the endpoints it creates."""
    return {"TAGS": json.dumps(dict(tags), sort_keys=True)} if tags else {}


def models_variable(models: Iterable[ServedModel]) -> str:
    """``MODELS``: json.dumps keeps the contract's nulls (CDK's to_json_string drops them); compact
    separators leave room for more models in the 4 KB."""
    return json.dumps({m.name: m.as_environment() for m in models}, separators=(",", ":"))


def check_environment_size(
    environment: dict[str, str], *, model_count: int, function: str | None = None
) -> None:
    """ConfigError naming the size, the limit and the model count when a function's environment exceeds
    Lambda's 4 KB. ``function``: the function whose final environment this is; without it, the shared
    variables are checked with room for each function's ``POWERTOOLS_SERVICE_NAME``."""
    size = environment_bytes(environment) + (SERVICE_NAME_BYTES if function is None else 0)
    if size > LAMBDA_ENVIRONMENT_BYTES:
        whose = "the Lambda environment" if function is None else f"the {function} function's environment"
        largest = sorted(environment, key=lambda name: -environment_bytes({name: environment[name]}))[:3]
        raise ConfigError(
            f"models: {model_count} models make {whose} {size} bytes (largest variables: "
            f"{', '.join(largest)}; MODELS alone {len(environment['MODELS'])}), over Lambda's limit of "
            f"{LAMBDA_ENVIRONMENT_BYTES} bytes per function; deploy fewer models per app (split them over "
            "several prefixes), shorten their names, or use fewer tags"
        )


def environment_bytes(environment: dict[str, str]) -> int:
    """The size Lambda counts (names and values, UTF-8), with deploy-time values at their allowance."""
    total = 0
    for name, value in environment.items():
        tokens = value.count(TOKEN_MARKER)
        literal = value
        for _ in range(tokens):
            start = literal.index(TOKEN_MARKER)
            literal = literal[:start] + literal[literal.index("]}", start) + 2 :]
        total += len(name.encode()) + len(literal.encode()) + tokens * DEPLOY_TIME_VALUE_BYTES
    return total
