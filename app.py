#!/usr/bin/env python3
"""CDK entry point: reads the cdk.json context once, builds the typed config, adds the stacks."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from stacks.app_builder import build_app
from stacks.config import ConfigError, app_context_keys, parse_deployment


def synth(app: cdk.App) -> None:
    """Synthesize ``app`` from its context; a bad config value exits with the key and the reason."""
    # All of it, so that an unknown key (a typo) fails here rather than being ignored; the CDK's own
    # keys (feature flags, the CLI's settings and lookups) are left to the CDK.
    context = app_context_keys(app.node.get_all_context())
    try:
        config = parse_deployment(context)
        # Some limits (the Lambda environment's 4 KB) are only known once the names are built.
        build_app(app, config)
    except ConfigError as error:
        sys.exit(f"seqserve: bad deployment config in cdk.json context: {error}")
    app.synth()


if __name__ == "__main__":
    synth(cdk.App())
