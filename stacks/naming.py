"""Deterministic names for the resources the Lambdas and the pipeline address by name at runtime.

Every SageMaker resource gets an explicit name: SageMaker names are at most 63 characters of
[a-zA-Z0-9-] and IAM authorizes against lowercased ARNs, so a CloudFormation-generated (mixed-case)
name would not match the policies; these are lowercase. The pipeline appends
``-<uuid>`` (37 characters) to the base for training jobs, models and endpoint configurations, so the
base is at most 26 characters; IAM policies scope to ``<base>`` and ``<base>-*``.
"""

from __future__ import annotations

import hashlib
import json
import re

MAX_SAGEMAKER_NAME = 63
RUN_SUFFIX = 37  # "-" + States.UUID()
MAX_BASE = MAX_SAGEMAKER_NAME - RUN_SUFFIX
MAX_RULE_NAME = 64


NAME_HASH = 12
SERVICE_SUFFIX = "-service"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _shorten(text: str, limit: int) -> str:
    """Cut to ``limit`` characters, keeping names unique with a short hash of the full text."""
    if len(text) <= limit:
        return text
    if limit < 8:
        return _digest(text, limit)
    return f"{text[: limit - 7].rstrip('-')}-{_digest(text, 6)}"


def _clean(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def sagemaker_base(stack_name: str, model: str) -> str:
    """The endpoint name of a model, and the prefix of its training jobs, models and configs.

    ``<prefix>-service-<model>``; when that is too long, only the part after ``<prefix>-`` is cut, so
    the name still starts with the app's prefix.
    """
    prefix = endpoint_prefix(stack_name.removesuffix(SERVICE_SUFFIX))
    rest = _clean(f"{stack_name[len(stack_name.removesuffix(SERVICE_SUFFIX)) + 1 :]}-{model}")
    # The config caps the prefix at 20 characters, which leaves at least 5 for the rest.
    return f"{prefix}{_shorten(rest, max(MAX_BASE - len(prefix), 5))}"


def endpoint_prefix(prefix: str) -> str:
    """What every endpoint name of the app with this config prefix starts with (interfaces.md #5)."""
    return f"{_clean(prefix)}-"


def content_name(base: str, content: object) -> str:
    """``<base>-<hash of content>``: a CloudFormation-named SageMaker resource whose properties change
    gets a new name, so CloudFormation can create the replacement before deleting the old one."""
    return f"{base}-{_digest(json.dumps(content, sort_keys=True, default=str), NAME_HASH)}"


def idle_rule_name(stack_name: str) -> str:
    return _shorten(_clean(f"{stack_name}-idle-check"), MAX_RULE_NAME)


def api_name(prefix: str) -> str:
    """The REST API's name, so two deployments' APIs (and their ApiName metrics) stay apart."""
    return f"{prefix}-api"


def stateful_stack_name(prefix: str) -> str:
    return f"{prefix}-stateful"


def service_stack_name(prefix: str) -> str:
    """The stack whose name the SageMaker names and the idle rule derive from."""
    return f"{prefix}-service"
