"""The deployment config (cdk.json context) as frozen dataclasses, and its parser.

No aws_cdk import here: the local stack builds its moto resources from the same dataclasses, and only
``app.py`` reads the context. Every rejection names the key (as a dotted path) and what is allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from lambdas.seqserve_common.keep_warm import Window, WindowError, parse_windows
from lambdas.seqserve_common.ownership import DEPLOYMENT_TAG
from model_code.presets import PRESETS
from model_code.training.hyperparameters import UsageError, check_hyperparameters

PRESET_NAMES = tuple(PRESETS)
SERVING_MODES = ("on_demand", "serverless", "always_on", "lambda")
# Keys that configure a SageMaker endpoint or its idle check: a ``lambda``-mode model has neither.
ENDPOINT_ONLY_KEYS = (
    "instance_type",
    "idle_minutes",
    "check_every_minutes",
    "min_instances",
    "max_instances",
    "target_invocations_per_instance",
    "memory_mb",
    "max_concurrency",
    "max_wake_minutes",
    "keep_warm",
    "warm_lead_minutes",
    "max_lease_minutes",
    "hourly_price",
    "max_awake_hours_per_day",
    "bridge",
)
# torch: the torch serving image; onnx: the torch-free cpu-onnx image (ONNX Runtime, model.onnx).
SERVING_RUNTIMES = ("torch", "onnx")
AUTH_MODES = ("api_key", "iam")
# SageMaker Serverless Inference accepts these memory sizes only.
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)

MODEL_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
HYPERPARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")
ACCOUNT = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _gpu_family(instance_type: str) -> bool:
    """ml.p* and ml.g* instances have NVIDIA GPUs (the image tables call them the gpu processor)."""
    return instance_type.split(".")[1].startswith(("p", "g"))


class ConfigError(ValueError):
    """A deployment config value is missing, of the wrong type or out of range."""


@dataclass(frozen=True, kw_only=True)
class ServingConfig:
    mode: str = "on_demand"
    instance_type: str = "ml.m5.large"
    idle_minutes: int = 15
    check_every_minutes: int = 5
    min_instances: int = 1
    max_instances: int = 1
    target_invocations_per_instance: int = 100
    memory_mb: int = 2048
    max_concurrency: int = 5
    # A wake not in service this long after it started is failed (deleted, reported) by the reconciler.
    max_wake_minutes: int = 30
    # model.tar.gz to serve from deploy time; serverless and always_on endpoints need one.
    model_data: str | None = None
    # onnx unless set: measured (README, "torch vs ONNX Runtime serving") 0.06-0.07x the start to the
    # first /ping, 0.3x the worker's memory, 1.2-2x the throughput and 0.17x the installed packages.
    # parse_serving falls back to torch where ONNX cannot serve: GPU instances, and model_data artifacts,
    # which may carry no checked ONNX export (the pipeline's training writes and checks one).
    runtime: str = "onnx"
    # Pipeline-created models and endpoint configurations kept per model (newest first); older ones are
    # deleted after each training run, except the one recorded in the state table or in use.
    keep_configs: int = 3
    # on_demand only: alarm when the endpoint existed longer than this in the last 24 hours (None: off).
    max_awake_hours_per_day: int | None = None
    # Operator features (issue 13): windows that hold the model up, a lease's upper bound, the
    # endpoint's price per hour (none is assumed: without it usage reports minutes only).
    keep_warm: tuple[Window, ...] = ()
    warm_lead_minutes: int = 10
    max_lease_minutes: int = 720
    hourly_price: float | None = None
    # on_demand only (issue 21): answer through the model's Lambda-hosted ONNX copy while the endpoint
    # wakes. On by default where the model fits (ONNX on CPU); parse_serving turns it off elsewhere.
    bridge: bool = True
    # The Lambda-hosted model's (issue 21, stacks/model_function.py) memory and /tmp, in MB; None: sized
    # from the preset's artifact (stacks/lambda_sizing.py).
    lambda_memory_mb: int | None = None
    lambda_storage_mb: int | None = None

    @property
    def uses_gpu(self) -> bool:
        return self.mode not in ("serverless", "lambda") and _gpu_family(self.instance_type)

    @property
    def lambda_served(self) -> bool:
        """Whether a Lambda function serves the model: mode ``lambda``, or an on_demand model's bridge."""
        return self.mode == "lambda" or (self.mode == "on_demand" and self.bridge)


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    spot: bool = False
    max_runtime_minutes: int = 240
    max_wait_minutes: int = 480
    volume_gb: int = 30
    hyperparameters: Mapping[str, str] = field(default_factory=dict)

    @property
    def uses_gpu(self) -> bool:
        return _gpu_family(self.instance_type)


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    name: str
    preset: str
    serving: ServingConfig
    training: TrainingConfig


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    auth: str = "api_key"
    rate_limit_rps: int = 50
    burst: int = 100
    quota_per_day: int = 100_000
    max_inputs: int = 64
    max_body_bytes: int = 262_144
    cors_origins: tuple[str, ...] = ("*",)


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    account: str | None = None
    region: str | None = None


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """Subnets and security groups of an existing VPC for training jobs and models (no lookups)."""

    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()

    @property
    def in_vpc(self) -> bool:
        return bool(self.subnet_ids)


@dataclass(frozen=True, kw_only=True)
class DeploymentConfig:
    prefix: str
    models: tuple[ModelConfig, ...]
    api: ApiConfig
    env: EnvironmentConfig
    notify_email: str | None = None
    # Platform options (README "Deploying into a company account"): tags on every resource and on the
    # endpoints, models and jobs created at run time; an existing VPC; a customer-managed KMS key.
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    network: NetworkConfig = field(default_factory=lambda: NetworkConfig())
    kms_key_arn: str | None = None

    @property
    def on_demand_models(self) -> tuple[ModelConfig, ...]:
        return tuple(m for m in self.models if m.serving.mode == "on_demand")

    def model(self, name: str) -> ModelConfig:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)


def _path(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected an object, got {type(value).__name__}")
    return value


def _known(section: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key; allowed keys: {', '.join(allowed)}")


def _int(section: Mapping[str, Any], name: str, key: str, default: int, low: int, high: int) -> int:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}.{name}: expected an integer from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{key}.{name}: must be from {low} to {high}, got {value}")
    return value


def _optional_int(section: Mapping[str, Any], name: str, key: str, low: int, high: int) -> int | None:
    if section.get(name) is None:
        return None
    return _int(section, name, key, low, low, high)


def _choice(section: Mapping[str, Any], name: str, key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = section.get(name, default)
    if value not in allowed:
        raise ConfigError(f"{key}.{name}: {value!r} is not allowed; allowed values: {', '.join(allowed)}")
    return value


def _pattern(section: Mapping[str, Any], name: str, key: str, default: Any, pattern: re.Pattern, what: str):
    value = section.get(name, default)
    if value is None and default is None:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise ConfigError(f"{_path(key, name)}: {value!r} is not {what}")
    return value


def _bool(section: Mapping[str, Any], name: str, key: str, default: bool) -> bool:
    value = section.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}.{name}: expected true or false, got {value!r}")
    return value


# Options only some modes read; given to another mode they would silently do nothing, so they are
# refused by name. on_demand runs one instance and its one reconciler schedule; serverless sizes by
# memory and concurrency; always_on autoscales between min and max instances and never sleeps.
MODE_ONLY_OPTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "min_instances": ("always_on",),
        "max_instances": ("always_on",),
        "target_invocations_per_instance": ("always_on",),
        "memory_mb": ("serverless",),
        "max_concurrency": ("serverless",),
        "idle_minutes": ("on_demand",),
        "check_every_minutes": ("on_demand",),
        "max_wake_minutes": ("on_demand",),
        "warm_lead_minutes": ("on_demand",),
        "max_lease_minutes": ("on_demand",),
    }
)


def _refuse_ignored(section: Mapping[str, Any], key: str, mode: str) -> None:
    for name, modes in MODE_ONLY_OPTIONS.items():
        if name in section and mode not in modes:
            raise ConfigError(
                f"{key}.{name}: mode {mode!r} does not use it (only {', '.join(repr(m) for m in modes)} "
                "does); remove it"
            )


def parse_serving(raw: Any, key: str) -> ServingConfig:
    section = _mapping(raw, key)
    d = ServingConfig()
    _known(section, key, tuple(ServingConfig.__dataclass_fields__))
    mode = _choice(section, "mode", key, d.mode, SERVING_MODES)
    if mode == "lambda":
        return _lambda_serving(section, key)
    _refuse_ignored(section, key, mode)
    memory_mb = section.get("memory_mb", d.memory_mb)
    if memory_mb not in SERVERLESS_MEMORY_MB or isinstance(memory_mb, bool):
        allowed = ", ".join(str(m) for m in SERVERLESS_MEMORY_MB)
        raise ConfigError(f"{key}.memory_mb: {memory_mb!r} is not allowed; allowed values: {allowed}")
    config = ServingConfig(
        mode=mode,
        instance_type=_pattern(
            section, "instance_type", key, d.instance_type, INSTANCE_TYPE, "a SageMaker instance type"
        ),
        idle_minutes=_int(section, "idle_minutes", key, d.idle_minutes, 1, 1440),
        check_every_minutes=_int(section, "check_every_minutes", key, d.check_every_minutes, 1, 60),
        min_instances=_int(section, "min_instances", key, d.min_instances, 1, 100),
        max_instances=_int(section, "max_instances", key, d.max_instances, 1, 100),
        target_invocations_per_instance=_int(
            section, "target_invocations_per_instance", key, d.target_invocations_per_instance, 1, 100_000
        ),
        memory_mb=memory_mb,
        max_concurrency=_int(section, "max_concurrency", key, d.max_concurrency, 1, 200),
        max_wake_minutes=_int(section, "max_wake_minutes", key, d.max_wake_minutes, 5, 240),
        model_data=_pattern(section, "model_data", key, None, S3_URI, "an s3:// URI of a model.tar.gz"),
        runtime=_choice(section, "runtime", key, d.runtime, SERVING_RUNTIMES),
        keep_configs=_int(section, "keep_configs", key, d.keep_configs, 1, 100),
        max_awake_hours_per_day=_optional_awake_hours(section, key, mode),
        bridge=_bool(section, "bridge", key, d.bridge),
        **_operator_options(section, key, d),
        # Lambda's limits: memory 128-10,240 MB, ephemeral storage (/tmp) 512-10,240 MB.
        lambda_memory_mb=_optional_int(section, "lambda_memory_mb", key, 128, 10240),
        lambda_storage_mb=_optional_int(section, "lambda_storage_mb", key, 512, 10240),
    )
    if "runtime" not in section and (config.uses_gpu or config.model_data is not None):
        config = replace(config, runtime="torch")
    config = _bridge(config, section, key)
    if config.runtime == "onnx" and config.uses_gpu:
        raise ConfigError(
            f"{key}.runtime: 'onnx' serves on CPU only (the cpu-onnx image); use runtime 'torch' on "
            f"{config.instance_type} or a CPU instance type"
        )
    if config.min_instances > config.max_instances:
        raise ConfigError(
            f"{key}.min_instances: {config.min_instances} exceeds max_instances {config.max_instances}"
        )
    if config.check_every_minutes > config.idle_minutes:
        raise ConfigError(
            f"{key}.check_every_minutes: {config.check_every_minutes} exceeds idle_minutes "
            f"{config.idle_minutes}; the check must run at least once per idle period"
        )
    if mode in ("serverless", "always_on") and config.model_data is None:
        raise ConfigError(
            f"{key}.model_data: required when mode is {mode!r} (CloudFormation creates that endpoint at "
            "deploy time); give the s3:// URI of a trained model.tar.gz, or use mode 'on_demand'"
        )
    return config


def _lambda_serving(section: Mapping[str, Any], key: str) -> ServingConfig:
    """Mode ``lambda``: the function serves the ONNX export on CPU; no endpoint, no idle check."""
    extra = [name for name in ENDPOINT_ONLY_KEYS if name in section]
    if extra:
        raise ConfigError(
            f"{key}: {', '.join(extra)} configure a SageMaker endpoint or its idle check, and mode 'lambda' "
            "has neither; remove them, or use mode 'on_demand' (with its bridge) for an endpoint"
        )
    runtime = _choice(section, "runtime", key, "onnx", SERVING_RUNTIMES)
    if runtime != "onnx":
        raise ConfigError(f"{key}.runtime: mode 'lambda' serves the ONNX export; use runtime 'onnx'")
    return ServingConfig(
        mode="lambda",
        runtime=runtime,
        model_data=_pattern(section, "model_data", key, None, S3_URI, "an s3:// URI of a model.tar.gz"),
        keep_configs=_int(section, "keep_configs", key, ServingConfig.keep_configs, 1, 100),
        bridge=False,
        lambda_memory_mb=_optional_int(section, "lambda_memory_mb", key, 128, 10240),
        lambda_storage_mb=_optional_int(section, "lambda_storage_mb", key, 512, 10240),
    )


def _bridge(config: ServingConfig, section: Mapping[str, Any], key: str) -> ServingConfig:
    """The bridge where it can serve: on_demand, ONNX on CPU (the function runs ONNX Runtime only)."""
    fits = config.mode == "on_demand" and config.runtime == "onnx" and not config.uses_gpu
    if fits or not config.bridge:
        return config
    if section.get("bridge") is True:
        why = (
            f"mode {config.mode!r} has no wake to bridge"
            if config.mode != "on_demand"
            else f"the serving function runs the ONNX export on CPU, and this model serves {config.runtime} "
            f"on {config.instance_type}"
        )
        raise ConfigError(f"{key}.bridge: {why}; remove it or set it to false")
    return replace(config, bridge=False)


def _operator_options(section: Mapping[str, Any], key: str, d: ServingConfig) -> dict[str, Any]:
    try:
        windows = parse_windows(section.get("keep_warm", []))
    except WindowError as error:
        raise ConfigError(f"{key}.keep_warm{'' if str(error).startswith('[') else ': '}{error}") from None
    price = section.get("hourly_price")
    if price is not None and (isinstance(price, bool) or not isinstance(price, int | float) or price <= 0):
        raise ConfigError(f"{key}.hourly_price: expected a positive number (the endpoint's price per hour)")
    if windows and section.get("mode", d.mode) != "on_demand":
        raise ConfigError(f"{key}.keep_warm: only an on_demand model sleeps, so only it takes windows")
    return {
        "keep_warm": windows,
        "warm_lead_minutes": _int(section, "warm_lead_minutes", key, d.warm_lead_minutes, 0, 720),
        "max_lease_minutes": _int(section, "max_lease_minutes", key, d.max_lease_minutes, 1, 7 * 24 * 60),
        "hourly_price": None if price is None else float(price),
    }


def parse_training(raw: Any, key: str, *, preset: str) -> TrainingConfig:
    section = _mapping(raw, key)
    d = TrainingConfig()
    _known(section, key, tuple(TrainingConfig.__dataclass_fields__))
    hyperparameters = _mapping(section.get("hyperparameters", {}), f"{key}.hyperparameters")
    clean: dict[str, str] = {}
    for name, value in hyperparameters.items():
        if not HYPERPARAMETER_NAME.match(name):
            raise ConfigError(
                f"{key}.hyperparameters.{name}: names are lowercase letters, digits, '_' or '-', "
                "starting with a letter"
            )
        if isinstance(value, Mapping | list | tuple) or value is None:
            raise ConfigError(f"{key}.hyperparameters.{name}: expected a string, number or boolean")
        # SageMaker passes hyperparameters as strings on the command line of train.py.
        clean[name] = str(value).lower() if isinstance(value, bool) else str(value)
    for reserved in ("preset", "model-dir", "model_dir", "train", "test"):
        if reserved in clean:
            raise ConfigError(f"{key}.hyperparameters.{reserved}: set by the pipeline; remove it")
    try:
        check_hyperparameters(preset, clean)
    except UsageError as error:
        raise ConfigError(f"{key}.hyperparameters: {error}") from None
    config = TrainingConfig(
        instance_type=_pattern(
            section, "instance_type", key, d.instance_type, INSTANCE_TYPE, "a SageMaker instance type"
        ),
        instance_count=_int(section, "instance_count", key, d.instance_count, 1, 16),
        spot=_bool(section, "spot", key, d.spot),
        max_runtime_minutes=_int(section, "max_runtime_minutes", key, d.max_runtime_minutes, 5, 28 * 24 * 60),
        max_wait_minutes=_int(section, "max_wait_minutes", key, d.max_wait_minutes, 5, 28 * 24 * 60),
        volume_gb=_int(section, "volume_gb", key, d.volume_gb, 1, 16384),
        hyperparameters=MappingProxyType(clean),
    )
    if config.spot and config.max_wait_minutes < config.max_runtime_minutes:
        raise ConfigError(
            f"{key}.max_wait_minutes: {config.max_wait_minutes} is below max_runtime_minutes "
            f"{config.max_runtime_minutes}; spot training waits at least as long as it runs"
        )
    return config


def parse_model(name: Any, raw: Any) -> ModelConfig:
    key = f"models.{name}"
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise ConfigError(
            f"{key}: model names are 1-32 lowercase letters, digits or '-', starting with a letter"
        )
    section = _mapping(raw, key)
    _known(section, key, ("preset", "serving", "training"))
    preset = _choice(section, "preset", key, name, PRESET_NAMES)
    return ModelConfig(
        name=name,
        preset=preset,
        serving=parse_serving(section.get("serving", {}), f"{key}.serving"),
        training=parse_training(section.get("training", {}), f"{key}.training", preset=preset),
    )


def parse_api(raw: Any) -> ApiConfig:
    key = "api"
    section = _mapping(raw, key)
    d = ApiConfig()
    _known(section, key, tuple(ApiConfig.__dataclass_fields__))
    origins = section.get("cors_origins", list(d.cors_origins))
    if not isinstance(origins, list) or not origins or not all(isinstance(o, str) and o for o in origins):
        raise ConfigError(f"{key}.cors_origins: expected a non-empty list of origins such as '*'")
    config = ApiConfig(
        auth=_choice(section, "auth", key, d.auth, AUTH_MODES),
        rate_limit_rps=_int(section, "rate_limit_rps", key, d.rate_limit_rps, 1, 10_000),
        burst=_int(section, "burst", key, d.burst, 1, 5_000),
        quota_per_day=_int(section, "quota_per_day", key, d.quota_per_day, 1, 1_000_000_000),
        max_inputs=_int(section, "max_inputs", key, d.max_inputs, 1, 10_000),
        max_body_bytes=_int(section, "max_body_bytes", key, d.max_body_bytes, 1024, 6_000_000),
        cors_origins=tuple(origins),
    )
    if config.burst < config.rate_limit_rps:
        raise ConfigError(f"{key}.burst: {config.burst} is below rate_limit_rps {config.rate_limit_rps}")
    return config


def parse_env(raw: Any) -> EnvironmentConfig:
    key = "env"
    section = _mapping(raw, key)
    _known(section, key, ("account", "region"))
    return EnvironmentConfig(
        account=_pattern(section, "account", key, None, ACCOUNT, "a 12-digit AWS account id"),
        region=_pattern(section, "region", key, None, REGION, "an AWS region name such as eu-west-1"),
    )


PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,19}$")
TOP_LEVEL_KEYS = ("prefix", "models", "api", "env", "notify_email", "tags", "network", "kms_key_arn")
# Context keys that belong to the CDK, not to this app: feature flags ("@aws-cdk/..."), what the CLI
# and the construct library put in the context themselves ("aws:cdk:...", "cdk-..." such as
# "aws-cdk:enableDiffNoFail"), lookups cached by the CLI ("availability-zones:...", "hosted-zone:...")
# and the CLI's own settings stored there ("cli-telemetry", "acknowledged-issue-numbers").
CDK_CONTEXT_PREFIXES = ("@aws-cdk/", "@aws-cdk-containers/", "aws:cdk:", "aws-cdk:", "cdk-")
CDK_CONTEXT_KEYS = ("cli-telemetry", "acknowledged-issue-numbers")
CDK_LOOKUP_KEY = re.compile(r"^[a-z][a-z0-9-]*:")


def app_context_keys(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context entries that are this app's: every key not the CDK's, known or not (checked later)."""
    return {
        key: value
        for key, value in context.items()
        if not (value is None and key in TOP_LEVEL_KEYS)
        and not key.startswith(CDK_CONTEXT_PREFIXES)
        and key not in CDK_CONTEXT_KEYS
        and not CDK_LOOKUP_KEY.match(key)
    }


def parse_deployment(context: Mapping[str, Any]) -> DeploymentConfig:
    """Build the typed config from the app's cdk.json context entries (see ``app_context_keys``).

    A key not in TOP_LEVEL_KEYS is refused: a typo such as ``kms_key`` or ``tag`` would otherwise
    deploy unencrypted or untagged without a word.
    """
    unknown = sorted(set(context) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: unknown key in the cdk.json context; known keys: {', '.join(TOP_LEVEL_KEYS)} "
            "(plus the CDK's own: feature flags '@aws-cdk/...', 'cli-telemetry', ...)"
        )
    prefix = _pattern(context, "prefix", "", "seqserve", PREFIX, "1-20 letters, digits or '-'")
    models = _mapping(context.get("models"), "models") if "models" in context else None
    if not models:
        raise ConfigError("models: at least one model is required, e.g. {'circrna': {'preset': 'circrna'}}")
    notify_email = _pattern(context, "notify_email", "", None, EMAIL, "an email address")
    config = DeploymentConfig(
        prefix=prefix,
        models=tuple(parse_model(name, raw) for name, raw in models.items()),
        api=parse_api(context.get("api", {})),
        env=parse_env(context.get("env", {})),
        notify_email=notify_email,
        tags=parse_tags(context.get("tags", {})),
        network=parse_network(context.get("network", {})),
        kms_key_arn=parse_kms_key_arn(context.get("kms_key_arn")),
    )
    check_platform(config)
    return config


# --- Platform options: tags, network, KMS key, per-model awake limit -------------------------------

# AWS tag rules shared by CloudFormation, SageMaker and every service here: letters, digits, spaces and
# _ . : / = + - @; keys 1-128 characters, values up to 256; "aws:" is reserved; 50 tags per resource.
TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
MAX_TAGS = 50
MAX_TAGS_JSON = 1024
SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
SECURITY_GROUP_ID = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
# SageMaker VpcConfig limits.
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
# A key ARN: IAM grants on an alias ARN do not authorize use of the key behind it.
KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:(?P<region>[a-z]{2}(-[a-z]+)+-\d):\d{12}:key/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
# EnableNetworkIsolation leaves a training container no network at all, and SageMaker's training toolkit
# pip-installs model_code/requirements.txt before train.py runs: every isolated job would fail there.
ISOLATION_REFUSED = (
    "network.isolation: true is not supported: SageMaker's training toolkit pip-installs "
    "model_code/requirements.txt from a package index before train.py runs, and a network-isolated job "
    "has no network at all (pretrained backbones come from the Hugging Face Hub the same way); remove "
    "network.isolation and keep the jobs off the internet with network.subnet_ids and "
    "network.security_group_ids: private subnets whose VPC endpoints and package-index mirror the README "
    'lists ("Deploying into a company account")'
)


def _optional_awake_hours(section: Mapping[str, Any], key: str, mode: str) -> int | None:
    if section.get("max_awake_hours_per_day") is None:
        return None
    if mode != "on_demand":
        raise ConfigError(
            f"{key}.max_awake_hours_per_day: only for mode 'on_demand' (a {mode} endpoint is never put "
            "to sleep); remove it"
        )
    # A day has 24 hours, so 24 or more could never alarm.
    return _int(section, "max_awake_hours_per_day", key, 0, 1, 23)


def parse_tags(raw: Any) -> Mapping[str, str]:
    key = "tags"
    section = _mapping(raw, key)
    # The endpoints the Lambdas create carry the deployment tag as well.
    if len(section) > MAX_TAGS - 1:
        raise ConfigError(
            f"{key}: {len(section)} tags; AWS allows at most {MAX_TAGS} per resource, and the app adds "
            f"{DEPLOYMENT_TAG} to its endpoints, so at most {MAX_TAGS - 1}"
        )
    tags: dict[str, str] = {}
    for name, value in section.items():
        where = f"{key}.{name}"
        if not isinstance(name, str) or not 1 <= len(name) <= 128 or not TAG_TEXT.match(name):
            raise ConfigError(f"{where}: tag keys are 1-128 letters, digits, spaces or _ . : / = + - @")
        if name.lower().startswith("aws:"):
            raise ConfigError(f"{where}: the prefix 'aws:' is reserved for AWS's own tags")
        if name == DEPLOYMENT_TAG:
            raise ConfigError(
                f"{where}: {DEPLOYMENT_TAG} is set by the app on its endpoints (it names their deployment)"
            )
        if not isinstance(value, str) or len(value) > 256 or not TAG_TEXT.match(value):
            raise ConfigError(
                f"{where}: expected a string of up to 256 letters, digits, spaces or _ . : / = + - @, "
                f"got {value!r}"
            )
        tags[name] = value
    size = len(json.dumps(tags, sort_keys=True))
    if size > MAX_TAGS_JSON:
        raise ConfigError(
            f"{key}: {size} characters as JSON; the invoker's environment (4 KB for all its variables) "
            f"carries them to the endpoints it creates, so at most {MAX_TAGS_JSON}"
        )
    return MappingProxyType(tags)


def _ids(
    section: Mapping[str, Any],
    name: str,
    key: str,
    *,
    pattern: re.Pattern,
    what: str,
    example: str,
    most: int,
) -> tuple[str, ...]:
    value = section.get(name, [])
    where = f"{key}.{name}"
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of {what} ids, got {type(value).__name__}")
    if len(value) > most:
        raise ConfigError(f"{where}: {len(value)} given; SageMaker accepts at most {most}")
    for item in value:
        if not isinstance(item, str) or not pattern.match(item):
            raise ConfigError(f"{where}: {item!r} is not a {what} id such as {example}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: lists an id twice")
    return tuple(value)


def parse_network(raw: Any) -> NetworkConfig:
    key = "network"
    section = _mapping(raw, key)
    _known(section, key, (*NetworkConfig.__dataclass_fields__, "isolation"))
    if _bool(section, "isolation", key, False):
        raise ConfigError(ISOLATION_REFUSED)
    config = NetworkConfig(
        subnet_ids=_ids(
            section,
            "subnet_ids",
            key,
            pattern=SUBNET_ID,
            what="subnet",
            example="subnet-0123abcd",
            most=MAX_SUBNETS,
        ),
        security_group_ids=_ids(
            section,
            "security_group_ids",
            key,
            pattern=SECURITY_GROUP_ID,
            what="security group",
            example="sg-0123abcd",
            most=MAX_SECURITY_GROUPS,
        ),
    )
    if bool(config.subnet_ids) != bool(config.security_group_ids):
        missing, given = ("security_group_ids", "subnet_ids")[:: 1 if config.subnet_ids else -1]
        raise ConfigError(
            f"{key}.{missing}: required with {key}.{given}; SageMaker's VpcConfig needs both the subnets "
            "and the security groups"
        )
    return config


def parse_kms_key_arn(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not KMS_KEY_ARN.match(raw):
        raise ConfigError(
            f"kms_key_arn: {raw!r} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID); "
            "alias ARNs are not accepted because IAM grants on an alias do not cover the key"
        )
    return raw


def check_platform(config: DeploymentConfig) -> None:
    """Checks across sections: the key's region, and what cannot run in a VPC."""
    if config.kms_key_arn is not None and config.env.region is not None:
        key_region = KMS_KEY_ARN.match(config.kms_key_arn).group("region")
        if key_region != config.env.region:
            raise ConfigError(
                f"kms_key_arn: the key is in {key_region} but env.region is {config.env.region}; "
                "SageMaker and S3 use keys of their own region only"
            )
    if config.network.in_vpc:
        for model in config.models:
            if model.serving.mode == "serverless":
                raise ConfigError(
                    f"network: model {model.name} is serverless, and SageMaker Serverless Inference does "
                    "not run in a VPC; serve it on_demand or always_on"
                )
