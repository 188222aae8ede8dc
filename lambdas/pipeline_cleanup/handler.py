"""Lambda entry point of the training pipeline's cleanup step: clients are built once per container."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from seqserve_common.clients import control_client

from pipeline_cleanup.cleanup import Cleanup, CleanupRequest

logger = Logger()
cleanup = Cleanup(
    sagemaker=control_client("sagemaker"),
    dynamodb=control_client("dynamodb"),
    table=os.environ["STATE_TABLE"],
    logger=logger,
)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict[str, list[str]]:
    return cleanup.run(CleanupRequest.parse(event))
