"""Adds the seqserve stacks to an App from a DeploymentConfig; app.py and the tests share it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from model_code.training.metrics import METRIC_DEFINITIONS
from stacks.cfn_lint_exceptions import ignore_redundant_role_dependencies
from stacks.config import DeploymentConfig
from stacks.nag_suppressions import suppress_service_findings
from stacks.naming import service_stack_name, stateful_stack_name
from stacks.platform import PlatformOptions
from stacks.service_stack import MODEL_CODE, ServiceStack
from stacks.stateful_stack import StatefulStack


@dataclass(frozen=True, kw_only=True)
class SeqserveStacks:
    stateful: StatefulStack
    service: ServiceStack


def build_app(app: cdk.App, config: DeploymentConfig, *, model_code: Path = MODEL_CODE) -> SeqserveStacks:
    """Both stacks, with cdk-nag AwsSolutions on the whole app (its errors fail `cdk synth`)."""
    env = None
    if config.env.account or config.env.region:
        env = cdk.Environment(account=config.env.account, region=config.env.region)
    stateful = StatefulStack(
        app,
        stateful_stack_name(config.prefix),
        env=env,
        description="seqserve state: data, images, endpoint state",
        kms_key_arn=config.kms_key_arn,
    )
    service = ServiceStack(
        app,
        service_stack_name(config.prefix),
        config=config,
        storage=stateful.storage,
        metric_definitions=METRIC_DEFINITIONS,
        model_code=model_code,
        env=env,
        description="seqserve: training pipelines, serving, REST API, idle shutdown, monitoring",
    )
    service.add_stack_dependency(stateful)
    PlatformOptions.of(config).apply(app, stacks=(stateful, service))
    ignore_redundant_role_dependencies(service)
    suppress_service_findings(service)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return SeqserveStacks(stateful=stateful, service=service)
