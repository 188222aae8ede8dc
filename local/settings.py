"""The deployment config the local stack serves: cdk.json's context, narrowed to the models served here."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stacks.config import (
    DeploymentConfig,
    ModelConfig,
    ServingConfig,
    TrainingConfig,
    app_context_keys,
    parse_deployment,
)

from .model_server import REPO_ROOT

CDK_JSON = REPO_ROOT / "cdk.json"


def read_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """cdk.json's context entries that are this app's, as app.py reads them (the CDK's feature flags and
    settings left out); an empty one (all defaults) before the CDK app exists."""
    if not path.is_file():
        return {}
    return app_context_keys(json.loads(path.read_text()).get("context", {}))


def model_preset(model_dir: Path) -> str:
    marker = model_dir / "seqserve.json"
    if not marker.is_file():
        raise ValueError(f"--model {model_dir}: not a trained model directory (no seqserve.json in it)")
    return str(json.loads(marker.read_text())["preset"])


def local_config(
    *, context: Mapping[str, Any], presets: Mapping[str, str], idle_minutes: int | None
) -> DeploymentConfig:
    """Parse the context; models served here but absent from it get the preset's defaults.

    ``idle_minutes`` overrides every served model's idle time (and caps its check period, which the
    config requires to be no longer), so a local model falls asleep quickly.
    """
    parsed = parse_deployment(
        {**context, "models": context.get("models") or {"circrna": {"preset": "circrna"}}}
    )
    known = {model.name: model for model in parsed.models}
    models: list[ModelConfig] = []
    for name, preset in presets.items():
        model = known.get(name) or ModelConfig(
            name=name, preset=preset, serving=ServingConfig(), training=TrainingConfig()
        )
        if model.preset != preset:
            raise ValueError(
                f"--model {name}: the model directory holds preset {preset!r}, cdk.json says {model.preset!r}"
            )
        if idle_minutes is not None:
            serving = dataclasses.replace(
                model.serving,
                idle_minutes=idle_minutes,
                check_every_minutes=min(model.serving.check_every_minutes, idle_minutes),
            )
            model = dataclasses.replace(model, serving=serving)
        models.append(model)
    return dataclasses.replace(parsed, models=tuple(models))
