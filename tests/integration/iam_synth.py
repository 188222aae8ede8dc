"""``python tests/integration/iam_synth.py CONTEXT_JSON PRESETS_JSON OUTDIR``: synthesizes the app for
the deployment config the local stack serves (``local.settings.local_config`` of that context), with
cdk.json's feature flags, and writes the templates to OUTDIR as `cdk synth` does.

A script, so the IAM evaluation synthesizes (tens of seconds of jsii) while the local stack runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
IDLE_MINUTES = 1


def main(context_json: str, presets_json: str, outdir: str) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    import aws_cdk as cdk

    from local.settings import local_config
    from stacks.app_builder import build_app

    config = local_config(
        context=json.loads(context_json), presets=json.loads(presets_json), idle_minutes=IDLE_MINUTES
    )
    flags = {
        key: value
        for key, value in json.loads((REPO_ROOT / "cdk.json").read_text())["context"].items()
        if key.startswith("@aws-cdk/")
    }
    app = cdk.App(outdir=outdir, context=flags)
    build_app(app, config)
    app.synth()


if __name__ == "__main__":
    main(*sys.argv[1:4])
