"""Lambda entry point of the job runner: an SQS batch, with the messages not yet done reported back."""

from __future__ import annotations

import os
import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext
from seqserve_common.clients import control_client, runtime_client
from seqserve_common.settings import parse_settings

from job_runner.runner import Backoff, JobRunner

logger = Logger()
# Every message of a batch may be waiting for the endpoint: that is no error of the batch.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
runner = JobRunner(
    settings=parse_settings(os.environ),
    runtime=runtime_client(),
    sagemaker=control_client("sagemaker"),
    dynamodb=control_client("dynamodb"),
    s3=control_client("s3"),
    sqs=control_client("sqs"),
    clock=time.time,
    logger=logger,
    backoff=Backoff(
        first_seconds=int(os.environ.get("JOB_RETRY_FIRST_SECONDS", Backoff.first_seconds)),
        max_seconds=int(os.environ.get("JOB_RETRY_MAX_SECONDS", Backoff.max_seconds)),
        max_attempts=int(os.environ.get("JOB_MAX_ATTEMPTS", Backoff.max_attempts)),
    ),
)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event, record_handler=runner.handle, processor=processor, context=context
    )
