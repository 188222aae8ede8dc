"""Lambda entry point of the Lambda-hosted model: clients and settings once per container, the model on
the first request (Lambda's 10 s init limit must not hold an artifact fetch).

Plain ``logging``, not Powertools: this function has no Powertools layer, whose import would add to every
cold start of the one path meant to answer fast.
"""

from __future__ import annotations

import os
import time

_import_started = time.perf_counter()

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from model_server.settings import server_from_environ  # noqa: E402

# Reads of the state table and describes: short, one retry (a request waits on them only on a re-check).
CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 2})
server = server_from_environ(
    os.environ,
    s3=boto3.client("s3", config=CONFIG),
    dynamodb=boto3.client("dynamodb", config=CONFIG),
    sagemaker=boto3.client("sagemaker", config=CONFIG),
)
IMPORT_SECONDS = time.perf_counter() - _import_started


def handler(event: dict, context: object) -> dict[str, object]:
    return server.answer(event)
