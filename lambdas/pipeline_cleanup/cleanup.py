"""Which of a model's pipeline-created SageMaker models and endpoint configurations to delete, and the
deletes.

Every training run creates a model and an endpoint configuration named ``<base>-<run uuid>``. After a
run, the newest ``keep`` of each stay; older ones are deleted, except the configuration the state table
records (the next wake uses it), the one the endpoint runs or is updating to, and the models those
configurations name. Names that are not ``<base>-<uuid>`` (CloudFormation's own resources, another
model's whose base starts the same way) are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from seqserve_common.endpoints import error_code, error_message, is_missing_endpoint

RUN_SUFFIX = re.compile(r"^-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BASE = re.compile(r"^[a-z0-9](-?[a-z0-9])*$")
MODEL = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
MAX_KEEP = 100


class CleanupRequestError(ValueError):
    """The state machine passed a request this function cannot act on."""


@dataclass(frozen=True, kw_only=True)
class CleanupRequest:
    model: str
    base: str
    endpoint_name: str
    keep: int

    @classmethod
    def parse(cls, event: Any) -> CleanupRequest:
        if not isinstance(event, Mapping):
            raise CleanupRequestError(
                f"event: expected an object with model, base, endpoint_name and keep, got {event!r}"
            )
        model, base, keep = event.get("model"), event.get("base"), event.get("keep")
        endpoint_name = event.get("endpoint_name")
        if not isinstance(model, str) or not MODEL.match(model):
            raise CleanupRequestError(f"event.model: {model!r} is not a model name")
        if not isinstance(base, str) or not BASE.match(base):
            raise CleanupRequestError(f"event.base: {base!r} is not a SageMaker name prefix")
        if not isinstance(endpoint_name, str) or not BASE.match(endpoint_name):
            raise CleanupRequestError(f"event.endpoint_name: {endpoint_name!r} is not an endpoint name")
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP:
            raise CleanupRequestError(f"event.keep: expected an integer from 1 to {MAX_KEEP}, got {keep!r}")
        return cls(model=model, base=base, endpoint_name=endpoint_name, keep=keep)


@dataclass(frozen=True, kw_only=True)
class Resource:
    name: str
    created: datetime


def run_named(base: str, name: str) -> bool:
    """``<base>-<uuid>``: what the training pipeline names its models and configurations."""
    return name.startswith(base) and bool(RUN_SUFFIX.match(name[len(base) :]))


def stale(resources: Iterable[Resource], *, base: str, keep: int, protected: set[str]) -> list[str]:
    """Names of ``base``'s run-named resources beyond the ``keep`` newest, minus ``protected``."""
    runs = sorted(
        (r for r in resources if run_named(base, r.name)), key=lambda r: (r.created, r.name), reverse=True
    )
    return [r.name for r in runs[keep:] if r.name not in protected]


class Cleanup:
    def __init__(self, *, sagemaker: Any, dynamodb: Any, table: str, logger: Logger) -> None:
        self._sagemaker = sagemaker
        self._dynamodb = dynamodb
        self._table = table
        self._logger = logger

    def run(self, request: CleanupRequest) -> dict[str, list[str]]:
        """Delete the stale configurations, then the models no remaining configuration names."""
        protected = self._configs_in_use(request)
        configs = self._list("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", request.base)
        doomed_configs = stale(configs, base=request.base, keep=request.keep, protected=protected)
        deleted_configs = [n for n in doomed_configs if self._delete("delete_endpoint_config", n)]
        remaining = [c.name for c in configs if c.name not in set(deleted_configs)]
        models_in_use = self._models_named_by(remaining)
        models = self._list("list_models", "Models", "ModelName", request.base)
        doomed_models = stale(models, base=request.base, keep=request.keep, protected=models_in_use)
        deleted_models = [n for n in doomed_models if self._delete("delete_model", n)]
        self._logger.info(
            "deleted old models and endpoint configurations",
            extra={
                "model": request.model,
                "endpoint_configs": deleted_configs,
                "models": deleted_models,
                "kept_in_use": sorted(protected),
            },
        )
        return {"deleted_endpoint_configs": deleted_configs, "deleted_models": deleted_models}

    def _configs_in_use(self, request: CleanupRequest) -> set[str]:
        in_use: set[str] = set()
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"model": {"S": request.model}}, ConsistentRead=True
        ).get("Item", {})
        recorded = item.get("endpoint_config_name", {}).get("S")
        if recorded:
            in_use.add(recorded)
        try:
            endpoint = self._sagemaker.describe_endpoint(EndpointName=request.endpoint_name)
        except ClientError as error:
            if not is_missing_endpoint(error):
                raise
            return in_use
        in_use.add(endpoint["EndpointConfigName"])
        pending = endpoint.get("PendingDeploymentSummary", {}).get("EndpointConfigName")
        if pending:
            in_use.add(pending)
        return in_use

    def _list(self, operation: str, key: str, name_key: str, base: str) -> list[Resource]:
        paginator = self._sagemaker.get_paginator(operation)
        return [
            Resource(name=entry[name_key], created=entry["CreationTime"])
            for page in paginator.paginate(NameContains=base)
            for entry in page[key]
        ]

    def _models_named_by(self, configs: Iterable[str]) -> set[str]:
        models: set[str] = set()
        for name in configs:
            try:
                described = self._sagemaker.describe_endpoint_config(EndpointConfigName=name)
            except ClientError as error:
                if _missing(error):
                    continue
                raise
            models.update(v["ModelName"] for v in described.get("ProductionVariants", []))
        return models

    def _delete(self, operation: str, name: str) -> bool:
        """False when it is already gone (an overlapping run deleted it)."""
        parameter = "EndpointConfigName" if operation == "delete_endpoint_config" else "ModelName"
        try:
            getattr(self._sagemaker, operation)(**{parameter: name})
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True


def _missing(error: ClientError) -> bool:
    return error_code(error) in {"ValidationException", "ValidationError"} and (
        "could not find" in error_message(error).lower() or "does not exist" in error_message(error).lower()
    )
