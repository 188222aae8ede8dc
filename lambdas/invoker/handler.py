"""Lambda entry point of the REST API: settings and clients are built once per container."""

from __future__ import annotations

import os
import time

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from seqserve_common.clients import (
    control_client,
    invoker_client,
    record_client,
    runtime_client,
    serving_function_client,
)
from seqserve_common.settings import parse_settings

from invoker.app import build_app

logger = Logger()
metrics = Metrics()
app = build_app(
    settings=parse_settings(os.environ),
    runtime=runtime_client(),
    sagemaker=invoker_client("sagemaker"),
    dynamodb=invoker_client("dynamodb"),
    record_dynamodb=record_client(),
    s3=control_client("s3"),
    sqs=invoker_client("sqs"),
    lambda_client=serving_function_client(),
    clock=time.time,
    logger=logger,
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
