"""Lambda entry point of the endpoint teardown custom resource: clients are built once per container."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from seqserve_common.clients import control_client

from teardown.teardown import Teardown, TeardownRequest

logger = Logger()
teardown = Teardown(
    sagemaker=control_client("sagemaker"),
    deployment=os.environ["DEPLOYMENT_NAME"],
    prefix=os.environ["ENDPOINT_PREFIX"],
    logger=logger,
    wait_seconds=float(os.environ["WAIT_SECONDS"]),
    poll_seconds=float(os.environ["POLL_SECONDS"]),
)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    return teardown.run(TeardownRequest.parse(event))
