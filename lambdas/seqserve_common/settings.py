"""The Lambdas' settings, parsed once from the environment the CDK app (or the local stack) sets.

Parsing takes a mapping rather than reading ``os.environ`` so only the handler modules, the entry
points, touch the environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

MODES = ("on_demand", "serverless", "always_on")


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

    @property
    def on_demand(self) -> bool:
        return self.mode == "on_demand"


@dataclass(frozen=True, kw_only=True)
class Settings:
    state_table: str
    models: Mapping[str, ModelSpec]
    idle_rule_name: str | None = None
    notify_topic_arn: str | None = None
    max_inputs: int = 64
    max_body_bytes: int = 1_000_000
    # Queued predictions (seqserve_common.jobs); None where they are not deployed.
    jobs_table: str | None = None
    jobs_bucket: str | None = None
    jobs_queue_url: str | None = None


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
    for key in ("preset", "mode", "endpoint_name"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise SettingsError(f"{where}.{key} must be a non-empty string, got {raw.get(key)!r}")
    if raw["mode"] not in MODES:
        raise SettingsError(f"{where}.mode must be one of {', '.join(MODES)}, got {raw['mode']!r}")
    config_name = raw.get("endpoint_config_name")
    if config_name is not None and (not isinstance(config_name, str) or not config_name):
        raise SettingsError(f"{where}.endpoint_config_name must be a non-empty string or null")
    idle_minutes = raw.get("idle_minutes", 15)
    if isinstance(idle_minutes, bool) or not isinstance(idle_minutes, int) or idle_minutes <= 0:
        raise SettingsError(f"{where}.idle_minutes must be a positive integer, got {idle_minutes!r}")
    return ModelSpec(
        name=name,
        preset=raw["preset"],
        mode=raw["mode"],
        endpoint_name=raw["endpoint_name"],
        endpoint_config_name=config_name,
        idle_minutes=idle_minutes,
    )


def parse_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from an environment mapping; raises SettingsError naming the variable at fault."""
    raw_models = _required(environ, "MODELS")
    try:
        models = json.loads(raw_models)
    except json.JSONDecodeError as error:
        raise SettingsError(f"environment variable MODELS is not valid JSON: {error}") from None
    if not isinstance(models, dict) or not models:
        raise SettingsError("environment variable MODELS must be a non-empty JSON object of models")
    return Settings(
        state_table=_required(environ, "STATE_TABLE"),
        models={name: _model_spec(name, spec) for name, spec in models.items()},
        idle_rule_name=environ.get("IDLE_RULE_NAME") or None,
        notify_topic_arn=environ.get("NOTIFY_TOPIC_ARN") or None,
        max_inputs=_positive_int(environ, "MAX_INPUTS", Settings.max_inputs),
        max_body_bytes=_positive_int(environ, "MAX_BODY_BYTES", Settings.max_body_bytes),
        jobs_table=environ.get("JOBS_TABLE") or None,
        jobs_bucket=environ.get("JOBS_BUCKET") or None,
        jobs_queue_url=environ.get("JOBS_QUEUE_URL") or None,
    )
