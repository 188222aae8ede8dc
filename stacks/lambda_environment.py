"""The Lambdas' environment (docs/internals.md) and limits, built one way for AWS and for the local stack.

No aws_cdk import: ``stacks/functions.py`` sets this environment on the deployed functions and
``local/`` sets the same on its worker processes, so neither side can drift from the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from lambdas.seqserve_common.keep_warm import Window
from stacks.config import ApiConfig, ServingConfig

METRICS_NAMESPACE = "seqserve"
# The invoker answers inside API Gateway's 29 s integration limit; the idle check has no client waiting.
INVOKER_TIMEOUT_SECONDS = 29
IDLE_CHECKER_TIMEOUT_SECONDS = 60


@dataclass(frozen=True, kw_only=True)
class ServedModel:
    """What the Lambdas know about one model: its names and whether they own its endpoint."""

    name: str
    preset: str
    mode: str
    endpoint_name: str
    endpoint_config_name: str | None
    idle_minutes: int
    # Operator features (issue 13): operator_options(serving) fills them.
    keep_warm: tuple[Window, ...] = ()
    warm_lead_minutes: int = 10
    max_lease_minutes: int = 720
    hourly_price: float | None = None

    def as_environment(self) -> dict[str, object]:
        return {
            "preset": self.preset,
            "mode": self.mode,
            "endpoint_name": self.endpoint_name,
            "endpoint_config_name": self.endpoint_config_name,
            "idle_minutes": self.idle_minutes,
            "keep_warm": [window.as_json() for window in self.keep_warm],
            "warm_lead_minutes": self.warm_lead_minutes,
            "max_lease_minutes": self.max_lease_minutes,
            "hourly_price": self.hourly_price,
        }


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
    idle_rule_name: str,
    topic_arn: str,
    api: ApiConfig,
    history_table: str | None = None,
) -> dict[str, str]:
    """The variables both functions get (each adds its own ``POWERTOOLS_SERVICE_NAME``)."""
    history = {"HISTORY_TABLE": history_table} if history_table is not None else {}
    return {
        **history,
        "STATE_TABLE": table_name,
        # json.dumps keeps the contract's nulls (CDK's to_json_string drops them); on AWS, CDK turns the
        # token of a CloudFormation-named endpoint configuration inside the string into Fn::Join.
        "MODELS": json.dumps({m.name: m.as_environment() for m in models}),
        "IDLE_RULE_NAME": idle_rule_name,
        "NOTIFY_TOPIC_ARN": topic_arn,
        "MAX_INPUTS": str(api.max_inputs),
        "MAX_BODY_BYTES": str(api.max_body_bytes),
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    }
