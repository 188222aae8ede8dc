"""``python tests/integration/iam_synth.py CONFIGS_JSON OUTROOT``: synthesizes the app once per
deployment config, in one process (jsii starts once), as the local stack serves it
(``local.settings.local_config`` of each context, its models' presets), with cdk.json's feature flags.

``CONFIGS_JSON`` maps a label to a cdk.json context; the templates of each go to ``OUTROOT/<label>``,
and ``OUTROOT/<label>.done`` appears when they are complete. A script, so the IAM evaluation
synthesizes (tens of seconds of jsii per app) while the local stacks run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
IDLE_MINUTES = 1


def presets(context: dict[str, Any]) -> dict[str, str]:
    """The models the local stack serves for this context: its models, or circrna by default."""
    models = context.get("models") or {"circrna": {"preset": "circrna"}}
    return {name: model["preset"] for name, model in models.items()}


def main(configs_json: str, outroot: str) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    import aws_cdk as cdk

    from local.settings import local_config
    from stacks.app_builder import build_app

    flags = {
        key: value
        for key, value in json.loads((REPO_ROOT / "cdk.json").read_text())["context"].items()
        if key.startswith("@aws-cdk/")
    }
    for label, context in json.loads(configs_json).items():
        config = local_config(context=context, presets=presets(context), idle_minutes=IDLE_MINUTES)
        app = cdk.App(outdir=str(Path(outroot) / label), context=flags)
        build_app(app, config)
        app.synth()
        (Path(outroot) / f"{label}.done").touch()


if __name__ == "__main__":
    main(*sys.argv[1:3])
