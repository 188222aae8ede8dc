"""Lambda entry point of the scheduled reconciler: settings and clients are built once per container."""

from __future__ import annotations

import os
import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from seqserve_common.clients import control_client
from seqserve_common.settings import parse_settings

from idle_checker.checker import IdleChecker

logger = Logger()
checker = IdleChecker(
    settings=parse_settings(os.environ),
    sagemaker=control_client("sagemaker"),
    dynamodb=control_client("dynamodb"),
    sns=control_client("sns"),
    clock=time.time,
    logger=logger,
)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict[str, str]:
    return checker.run()
