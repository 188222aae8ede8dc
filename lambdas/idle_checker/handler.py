"""Lambda entry point of the scheduled reconciler: settings and clients are built once per container."""

from __future__ import annotations

import os
import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from seqserve_common.clients import control_client
from seqserve_common.run_lock import RunLock, run_exclusively
from seqserve_common.settings import parse_settings

from idle_checker.checker import IdleChecker

logger = Logger()
settings = parse_settings(os.environ)
dynamodb = control_client("dynamodb")
checker = IdleChecker(
    settings=settings,
    sagemaker=control_client("sagemaker"),
    dynamodb=dynamodb,
    sns=control_client("sns"),
    clock=time.time,
    logger=logger,
)
# Runs never overlap: the lock is held until this invocation's own timeout at most.
lock = RunLock(dynamodb=dynamodb, table=settings.state_table, clock=time.time)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict[str, str]:
    hold_seconds = context.get_remaining_time_in_millis() / 1000
    return run_exclusively(lock, checker.run, hold_seconds=hold_seconds, logger=logger)
