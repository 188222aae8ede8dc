"""Deterministic names for the resources the Lambdas and the pipeline address by name at runtime.

Everything else gets a CloudFormation-generated name. SageMaker names are at most 63 characters of
[a-zA-Z0-9-] and appear lowercased in ARNs, so these are lowercase. The pipeline appends
``-<uuid>`` (37 characters) to the base for training jobs, models and endpoint configurations, so the
base is at most 26 characters; IAM policies scope to ``<base>`` and ``<base>-*``.
"""

from __future__ import annotations

import hashlib
import re

MAX_SAGEMAKER_NAME = 63
RUN_SUFFIX = 37  # "-" + States.UUID()
MAX_BASE = MAX_SAGEMAKER_NAME - RUN_SUFFIX
MAX_RULE_NAME = 64


def _shorten(text: str, limit: int) -> str:
    """Cut to ``limit`` characters, keeping names unique with a short hash of the full text."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{text[: limit - 7].rstrip('-')}-{digest}"


def _clean(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def sagemaker_base(stack_name: str, model: str) -> str:
    """The endpoint name of a model, and the prefix of its training jobs, models and configs."""
    return _shorten(_clean(f"{stack_name}-{model}"), MAX_BASE)


def endpoint_prefix(prefix: str) -> str:
    """What every endpoint name of the app with this config prefix starts with (interfaces.md #5)."""
    return f"{_clean(prefix)}-"


def idle_rule_name(stack_name: str) -> str:
    return _shorten(_clean(f"{stack_name}-idle-check"), MAX_RULE_NAME)


def stateful_stack_name(prefix: str) -> str:
    return f"{prefix}-stateful"


def service_stack_name(prefix: str) -> str:
    """The stack whose name the SageMaker names and the idle rule derive from."""
    return f"{prefix}-service"
