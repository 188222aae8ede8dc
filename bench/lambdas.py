"""Lambda benchmarks: cold import time of each handler, warm invoker overhead per predict request with
the endpoint call excluded, and DynamoDB writes for 1,000 requests over 10 simulated minutes.

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

    boto3.client("dynamodb").create_table(
        TableName=ENV["STATE_TABLE"],
        KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"}],
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


def _writes_for_simulated_traffic(idle_minutes: int) -> dict[str, Any]:
    import boto3
    from aws_lambda_powertools import Logger
    from invoker.app import build_app
    from seqserve_common.lifecycle import coalescing_seconds
    from seqserve_common.settings import parse_settings

    models = {"circrna": {**MODELS["circrna"], "idle_minutes": idle_minutes}}
    dynamodb = boto3.client("dynamodb")
    writes: list[int] = []
    dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", lambda **_: writes.append(1))
    now = [1_800_000_000.0]
    app = build_app(
        settings=parse_settings({**ENV, "MODELS": json.dumps(models)}),
        runtime=boto3.client("sagemaker-runtime"),
        sagemaker=boto3.client("sagemaker"),
        dynamodb=dynamodb,
        clock=lambda: now[0],
        logger=Logger(service="seqserve-bench"),
    )
    requests, span = 1000, 600.0
    with redirect_stdout(io.StringIO()):
        for index in range(requests):
            now[0] = 1_800_000_000.0 + span * index / requests
            if app.resolve(_event(), _Context())["statusCode"] != 200:
                raise RuntimeError("bench request failed")
    interval = coalescing_seconds(idle_minutes)
    return {
        "idle_minutes": idle_minutes,
        "requests": requests,
        "simulated_seconds": span,
        "coalescing_seconds": interval,
        "dynamodb_writes": len(writes),
        "bound": int(span // interval) + 1,
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
            writes = [_writes_for_simulated_traffic(minutes) for minutes in (15, 1)]
        finally:
            boto3.DEFAULT_SESSION = None
            sys.modules.pop("invoker.handler", None)
    return {
        "cold_import_ms_median_of_5": cold,
        "warm_predict_overhead": warm,
        "dynamodb_writes_1000_requests_10_minutes": writes,
        "note": "endpoint answered in-process; moto for AWS; times on this machine, CPython "
        + sys.version.split()[0],
    }
