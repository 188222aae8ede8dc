"""The Lambdas' settings, parsed once from the environment the CDK app (or the local stack) sets.

Parsing takes a mapping rather than reading ``os.environ`` so only the handler modules, the entry
points, touch the environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from seqserve_common.keep_warm import Window, WindowError, parse_windows
from seqserve_common.ownership import DEPLOYMENT_TAG

MODES = ("on_demand", "serverless", "always_on", "lambda")
# Served only by its Lambda function (issue 21): no endpoint, no wake, no idle check.
LAMBDA_MODE = "lambda"


class SettingsError(ValueError):
    """The Lambda's environment is missing a variable or holds a bad value."""


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    preset: str
    mode: str
    endpoint_name: str
    # None until a training run records a configuration; the state item's value wins over this one.
    endpoint_config_name: str | None
    idle_minutes: int
    # A wake that has not reached InService this long after it started takes the failure path.
    max_wake_minutes: int = 30
    # Operator features (issue 13); defaults keep a spec without them valid.
    keep_warm: tuple[Window, ...] = ()
    warm_lead_minutes: int = 10
    max_lease_minutes: int = 720
    hourly_price: float | None = None
    # The Lambda function serving the model's ONNX export (issue 21): the whole service in mode
    # ``lambda``, the bridge of an on_demand model while its endpoint wakes; None: no such function.
    serving_function: str | None = None

    @property
    def on_demand(self) -> bool:
        return self.mode == "on_demand"

    @property
    def lambda_only(self) -> bool:
        return self.mode == LAMBDA_MODE


@dataclass(frozen=True, kw_only=True)
class Settings:
    state_table: str
    models: Mapping[str, ModelSpec]
    # Every endpoint this app creates starts with it (ListEndpoints finds untracked ones); None: no scan.
    endpoint_prefix: str | None = None
    notify_topic_arn: str | None = None
    max_inputs: int = 64
    max_body_bytes: int = 1_000_000
    # cdk.json "tags": put on the endpoints the Lambdas create (CloudFormation tags only its own resources).
    tags: Mapping[str, str] = field(default_factory=dict)
    # Origins browsers may call the API from (api.cors_origins); "*" allows any.
    cors_origins: tuple[str, ...] = ("*",)
    # Issue 13's usage history (None: not recorded, and GET usage says so).
    history_table: str | None = None
    # Queued predictions (seqserve_common.jobs); None where they are not deployed.
    jobs_table: str | None = None
    jobs_bucket: str | None = None
    jobs_queue_url: str | None = None
    # DEPLOYMENT_NAME: the value of the ownership tag (seqserve_common.ownership) on every endpoint this
    # deployment creates; None: it owns no endpoint by tag, so the reconciler adopts none.
    deployment: str | None = None

    def creation_tags(self) -> dict[str, str]:
        """The tags every CreateEndpoint of this deployment passes: cdk.json tags and the ownership tag."""
        if self.deployment is None:
            return dict(self.tags)
        return {**self.tags, DEPLOYMENT_TAG: self.deployment}

    def owns(self, tags: Mapping[str, str]) -> bool:
        return self.deployment is not None and tags.get(DEPLOYMENT_TAG) == self.deployment


def _required(environ: Mapping[str, str], key: str) -> str:
    value = environ.get(key, "").strip()
    if not value:
        raise SettingsError(f"environment variable {key} is required and is not set")
    return value


def _positive_int(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(key)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"environment variable {key} must be a positive integer, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"environment variable {key} must be a positive integer, got {raw!r}")
    return value


def _model_spec(name: str, raw: object) -> ModelSpec:
    where = f"MODELS[{name!r}]"
    if not isinstance(raw, dict):
        raise SettingsError(f"{where} must be an object, got {type(raw).__name__}")
    for key in ("preset", "mode"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise SettingsError(f"{where}.{key} must be a non-empty string, got {raw.get(key)!r}")
    if raw["mode"] not in MODES:
        raise SettingsError(f"{where}.mode must be one of {', '.join(MODES)}, got {raw['mode']!r}")
    function = raw.get("serving_function")
    if function is not None and (not isinstance(function, str) or not function):
        raise SettingsError(
            f"{where}.serving_function must be a non-empty string or absent, got {function!r}"
        )
    if raw["mode"] == LAMBDA_MODE:
        if function is None:
            raise SettingsError(f"{where}.serving_function is required when mode is {LAMBDA_MODE!r}")
    elif not isinstance(raw.get("endpoint_name"), str) or not raw["endpoint_name"]:
        raise SettingsError(
            f"{where}.endpoint_name must be a non-empty string, got {raw.get('endpoint_name')!r}"
        )
    config_name = raw.get("endpoint_config_name")
    if config_name is not None and (not isinstance(config_name, str) or not config_name):
        raise SettingsError(f"{where}.endpoint_config_name must be a non-empty string or null")
    idle_minutes = raw.get("idle_minutes", 15)
    if isinstance(idle_minutes, bool) or not isinstance(idle_minutes, int) or idle_minutes <= 0:
        raise SettingsError(f"{where}.idle_minutes must be a positive integer, got {idle_minutes!r}")
    max_wake_minutes = raw.get("max_wake_minutes", 30)
    if isinstance(max_wake_minutes, bool) or not isinstance(max_wake_minutes, int) or max_wake_minutes <= 0:
        raise SettingsError(f"{where}.max_wake_minutes must be a positive integer, got {max_wake_minutes!r}")
    return ModelSpec(
        name=name,
        preset=raw["preset"],
        mode=raw["mode"],
        # A lambda-mode model has no endpoint: its name is empty, and nothing calls or creates it.
        endpoint_name=raw.get("endpoint_name") or "",
        endpoint_config_name=config_name,
        idle_minutes=idle_minutes,
        max_wake_minutes=max_wake_minutes,
        serving_function=function,
        **_operator_fields(where, raw),
    )


def _operator_fields(where: str, raw: dict) -> dict[str, object]:
    """keep_warm, warm_lead_minutes, max_lease_minutes, hourly_price: all optional."""
    try:
        windows = parse_windows(raw.get("keep_warm") or [])
    except WindowError as error:
        detail = str(error) if str(error).startswith("[") else f": {error}"
        raise SettingsError(f"{where}.keep_warm{detail}") from None
    fields: dict[str, object] = {"keep_warm": windows}
    for key in ("warm_lead_minutes", "max_lease_minutes"):
        value = raw.get(key, ModelSpec.__dataclass_fields__[key].default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SettingsError(f"{where}.{key} must be a non-negative integer, got {value!r}")
        fields[key] = value
    price = raw.get("hourly_price")
    if price is not None and (isinstance(price, bool) or not isinstance(price, int | float) or price <= 0):
        raise SettingsError(f"{where}.hourly_price must be a positive number or null, got {price!r}")
    fields["hourly_price"] = None if price is None else float(price)
    return fields


def parse_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from an environment mapping; raises SettingsError naming the variable at fault."""
    raw_models = _required(environ, "MODELS")
    try:
        models = json.loads(raw_models)
    except json.JSONDecodeError as error:
        raise SettingsError(f"environment variable MODELS is not valid JSON: {error}") from None
    if not isinstance(models, dict) or not models:
        raise SettingsError("environment variable MODELS must be a non-empty JSON object of models")
    specs = {name: _model_spec(name, spec) for name, spec in models.items()}
    prefix = environ.get("ENDPOINT_PREFIX", "").strip() or None
    if prefix is not None:
        for spec in specs.values():
            if spec.on_demand and not spec.endpoint_name.startswith(prefix):
                raise SettingsError(
                    f"MODELS[{spec.name!r}].endpoint_name {spec.endpoint_name!r} does not start with "
                    f"ENDPOINT_PREFIX {prefix!r}; the idle check finds this app's endpoints by that prefix"
                )
    return Settings(
        state_table=_required(environ, "STATE_TABLE"),
        models=specs,
        endpoint_prefix=prefix,
        notify_topic_arn=environ.get("NOTIFY_TOPIC_ARN") or None,
        max_inputs=_positive_int(environ, "MAX_INPUTS", Settings.max_inputs),
        max_body_bytes=_positive_int(environ, "MAX_BODY_BYTES", Settings.max_body_bytes),
        tags=_tags(environ),
        cors_origins=_origins(environ),
        history_table=environ.get("HISTORY_TABLE") or None,
        jobs_table=environ.get("JOBS_TABLE") or None,
        jobs_bucket=environ.get("JOBS_BUCKET") or None,
        jobs_queue_url=environ.get("JOBS_QUEUE_URL") or None,
        deployment=environ.get("DEPLOYMENT_NAME", "").strip() or None,
    )


def _tags(environ: Mapping[str, str]) -> dict[str, str]:
    raw = environ.get("TAGS", "").strip()
    if not raw:
        return {}
    try:
        tags = json.loads(raw)
    except json.JSONDecodeError as error:
        raise SettingsError(f"environment variable TAGS is not valid JSON: {error}") from None
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise SettingsError("environment variable TAGS must be a JSON object of strings")
    if DEPLOYMENT_TAG in tags:
        raise SettingsError(f"environment variable TAGS must not set {DEPLOYMENT_TAG}; DEPLOYMENT_NAME does")
    return tags


def _origins(environ: Mapping[str, str]) -> tuple[str, ...]:
    raw = environ.get("CORS_ORIGINS", "").strip()
    if not raw:
        return Settings.cors_origins
    try:
        origins = json.loads(raw)
    except json.JSONDecodeError:
        origins = None
    if not isinstance(origins, list) or not origins or not all(isinstance(o, str) and o for o in origins):
        raise SettingsError(f"environment variable CORS_ORIGINS must be a JSON list of origins, got {raw!r}")
    return tuple(origins)
