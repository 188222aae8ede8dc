"""Lambda benchmarks: cold import time of each handler, warm invoker overhead per predict request with
the endpoint call excluded, and every DynamoDB write the invoker makes (last_invoked_at and the
history's request counts) per 1,000 requests, for quiet and busy simulated traffic.

AWS is moto in-process; the endpoint is a botocore hook that answers at once, so the timings are the
handler's own work (routing, validation, botocore request/response handling, logging, metrics, the
occasional state write to moto), not SageMaker's.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
MODELS = {
    "circrna": {
        "preset": "circrna",
        "mode": "on_demand",
        "endpoint_name": "circrna-endpoint",
        "endpoint_config_name": "circrna-config",
        "idle_minutes": 15,
    }
}
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "STATE_TABLE": "seqserve-state",
    "HISTORY_TABLE": "seqserve-history",
    "MODELS": json.dumps(MODELS),
    "IDLE_RULE_NAME": "seqserve-idle-check",
    "NOTIFY_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:seqserve",
    "POWERTOOLS_SERVICE_NAME": "seqserve-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "seqserve",
}
IMPORT_REPEATS = 5
WARM_REQUESTS = 1000
BODY = json.dumps({"inputs": ["ACGUACGUACGU", "GGCCAAUUGGCC"], "parameters": {"top_k": 1}})
PREDICTION = json.dumps([{"label": "circRNA", "score": 0.9}, {"label": "lncRNA", "score": 0.8}]).encode()


def _cold_import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {**os.environ, **ENV, "PYTHONPATH": str(LAMBDAS), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _instant_endpoint(**_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    class Raw(io.BytesIO):
        def stream(self, **_: Any) -> Any:
            yield self.getvalue()

    headers = {"Content-Type": "application/json", "Content-Length": str(len(PREDICTION))}
    return AWSResponse("https://runtime.sagemaker.us-east-1.amazonaws.com", 200, headers, Raw(PREDICTION))


def _event() -> dict[str, Any]:
    path = "/models/circrna/predict"
    return {
        "resource": "/models/{model}/predict",
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": BODY,
        "isBase64Encoded": False,
        "requestContext": {"requestId": "bench", "stage": "prod", "path": f"/prod{path}"},
    }


class _Context:
    function_name = "invoker"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:invoker"
    aws_request_id = "bench"


def _provision() -> None:
    import boto3

    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=ENV["STATE_TABLE"],
        KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName=ENV["HISTORY_TABLE"],
        KeySchema=[
            {"AttributeName": "model", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "model", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _warm_overhead_ms() -> dict[str, float]:
    import boto3

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register_first(
        "before-send.sagemaker-runtime.InvokeEndpoint", _instant_endpoint
    )
    _provision()
    sys.modules.pop("invoker.handler", None)
    from invoker import handler as module

    times = []
    with redirect_stdout(io.StringIO()):  # the handler's JSON logs and EMF lines
        for _ in range(WARM_REQUESTS + 50):
            started = time.perf_counter()
            response = module.handler(_event(), _Context())
            times.append(time.perf_counter() - started)
            if response["statusCode"] != 200:
                raise RuntimeError(f"bench request failed: {response}")
    times = sorted(times[50:])
    return {
        "requests": WARM_REQUESTS,
        "p50_ms": round(statistics.median(times) * 1000, 3),
        "p95_ms": round(times[int(len(times) * 0.95)] * 1000, 3),
        "mean_ms": round(statistics.fmean(times) * 1000, 3),
    }


WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def _count_writes(client: Any) -> dict[str, int]:
    """Every DynamoDB item write ``client`` makes, by table (a transaction or batch counts its items)."""
    counts: dict[str, int] = {}

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            tables = [next(iter(w.values()))["TableName"] for w in params["TransactItems"]]
        elif model.name == "BatchWriteItem":
            tables = [t for t, requests in params["RequestItems"].items() for _ in requests]
        else:
            tables = [params["TableName"]]
        for table in tables:
            counts[table] = counts.get(table, 0) + 1

    for operation in WRITE_OPERATIONS:
        client.meta.events.register(f"provide-client-params.dynamodb.{operation}", count)
    return counts


def _writes_for_simulated_traffic(idle_minutes: int, *, requests: int, span: float) -> dict[str, Any]:
    """``requests`` predictions spread evenly over ``span`` simulated seconds through one warm invoker
    container, the endpoint awake: every DynamoDB write it makes (state and history tables)."""
    import boto3
    from aws_lambda_powertools import Logger
    from invoker.app import build_app
    from seqserve_common.lifecycle import coalescing_seconds
    from seqserve_common.settings import parse_settings

    models = {"circrna": {**MODELS["circrna"], "idle_minutes": idle_minutes}}
    dynamodb = boto3.client("dynamodb")
    writes = _count_writes(dynamodb)
    start = 1_800_000_000.0
    now = [start]
    app = build_app(
        settings=parse_settings({**ENV, "MODELS": json.dumps(models)}),
        runtime=boto3.client("sagemaker-runtime"),
        sagemaker=boto3.client("sagemaker"),
        dynamodb=dynamodb,
        clock=lambda: now[0],
        logger=Logger(service="seqserve-bench"),
    )
    with redirect_stdout(io.StringIO()):
        for index in range(requests):
            now[0] = start + span * index / requests
            answer = app.resolve(_event(), _Context())
            if answer["statusCode"] != 200:
                raise RuntimeError(f"bench request failed: {answer}")
    interval = coalescing_seconds(idle_minutes)
    total = sum(writes.values())
    return {
        "idle_minutes": idle_minutes,
        "requests": requests,
        "simulated_seconds": span,
        "requests_per_second": round(requests / span, 2),
        "coalescing_seconds": interval,
        "last_invoked_at_writes": writes.get(ENV["STATE_TABLE"], 0),
        "last_invoked_at_bound": int(span // interval) + 1,
        "history_writes": writes.get(ENV["HISTORY_TABLE"], 0),
        "dynamodb_writes": total,
        "dynamodb_writes_per_1000_requests": round(total * 1000 / requests, 2),
    }


def run() -> dict[str, Any]:
    if str(LAMBDAS) not in sys.path:
        sys.path.insert(0, str(LAMBDAS))
    import boto3
    from moto import mock_aws

    cold = {
        name: round(statistics.median(_cold_import_seconds(name) for _ in range(IMPORT_REPEATS)) * 1000, 1)
        for name in ("invoker.handler", "idle_checker.handler")
    }
    # The handler reads its environment and the default boto3 session, where the instant endpoint
    # is hooked in: both are restored so benchmarks running after this one see neither.
    with mock.patch.dict(os.environ, ENV), mock_aws():
        try:
            warm = _warm_overhead_ms()
            # Quiet traffic (1,000 requests over 10 minutes) and a busy model at the API's default rate
            # limit (50 requests a second for two minutes).
            writes = [
                _writes_for_simulated_traffic(minutes, requests=1000, span=600.0) for minutes in (15, 1)
            ] + [_writes_for_simulated_traffic(15, requests=6000, span=120.0)]
        finally:
            boto3.DEFAULT_SESSION = None
            sys.modules.pop("invoker.handler", None)
    return {
        "cold_import_ms_median_of_5": cold,
        "warm_predict_overhead": warm,
        "invoker_dynamodb_writes": writes,
        "note": "endpoint answered in-process; moto for AWS; times on this machine, CPython "
        + sys.version.split()[0],
    }
