"""The first prediction after idle, in the local stack with SageMaker-like endpoint creation (issue 21).

Trains the circrna preset on generated data (CPU), starts the local stack with endpoints taking
``CREATE_SECONDS`` to create, and, with every model asleep, sends one predict as a client would:
retrying on 503 after ``Retry-After`` (capped at RETRY_CAP_SECONDS, as the demo does). Reports the
time to the first 200 and who served it (``X-Served-By``), then waits for the endpoint to be in
service, predicts again, and compares the two answers (labels equal, scores within 1e-4).

Goal (issue 21): 200 within 10 s, served by ``lambda``, while the endpoint wakes. Without a serving
function (``serving.bridge: false``, or a model that does not fit) the first 200 comes only once the
endpoint is in service, from ``endpoint``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

CREATE_SECONDS = float(os.environ.get("BENCH_CREATE_SECONDS", "90"))
RETRY_CAP_SECONDS = 2.0
SCORE_TOLERANCE = 1e-4
SEQUENCE = "ATGGCGTACGTTAGCCTAGGCTAACGGTACGATCGATCGGCTAGCTAGGATCCGATCGTAGCTAGCTAGGCTA"
BODY = {"inputs": [SEQUENCE], "parameters": {"top_k": 2}}


def _predict_until_200(api: Any, *, limit_seconds: float) -> dict[str, Any]:
    started = time.perf_counter()
    attempts = 0
    while True:
        attempts += 1
        response = api.post("/models/circrna/predict", json=BODY)
        if response.status_code == 200:
            return {
                "seconds_to_200": round(time.perf_counter() - started, 2),
                "served_by": response.headers.get("x-served-by"),
                "attempts": attempts,
                "answer": response.json(),
            }
        if response.status_code != 503 or time.perf_counter() - started > limit_seconds:
            raise RuntimeError(f"predict answered {response.status_code}: {response.text}")
        time.sleep(min(float(response.headers.get("retry-after", 1)), RETRY_CAP_SECONDS))


def _agree(first: Any, second: Any) -> bool:
    """Same labels in the same order, scores within SCORE_TOLERANCE."""
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(_agree(a, b) for a, b in zip(first, second, strict=True))
    return first["label"] == second["label"] and abs(first["score"] - second["score"]) <= SCORE_TOLERANCE


def run() -> dict[str, Any]:
    import httpx

    from local.sagemaker_timing import EndpointTimes
    from local.settings import local_config, model_preset, read_context
    from local.stack import LocalStack, StackOptions
    from local.training import train_circrna
    from stacks.naming import service_stack_name

    with tempfile.TemporaryDirectory(prefix="seqserve-bench-first-") as scratch:
        work = Path(scratch)
        context = read_context()
        runtime = local_config(context=context, presets={"circrna": "circrna"}, idle_minutes=None)
        model_dir = train_circrna(
            work_dir=work / "circrna",
            log_file=work / "train.log",
            runtime=runtime.model("circrna").serving.runtime,
        )
        config = local_config(
            context=context, presets={"circrna": model_preset(model_dir)}, idle_minutes=None
        )
        stack = LocalStack(
            StackOptions(
                config=config,
                stack_name=service_stack_name(config.prefix),
                model_dirs={"circrna": model_dir},
                log_dir=work / "logs",
                endpoint_times=EndpointTimes(create_seconds=CREATE_SECONDS, delete_seconds=5.0),
            )
        )
        with stack:
            headers = {"x-api-key": stack.api_key} if stack.api_key else {}
            with httpx.Client(base_url=stack.api_url, timeout=60, headers=headers) as api:
                before = api.get("/models/circrna/status").json()["state"]
                first = _predict_until_200(api, limit_seconds=CREATE_SECONDS * 3)
                # Then the endpoint: poll until it is in service and answers itself.
                deadline = time.perf_counter() + CREATE_SECONDS * 3
                while True:
                    later = _predict_until_200(api, limit_seconds=CREATE_SECONDS * 3)
                    if later["served_by"] == "endpoint" or time.perf_counter() > deadline:
                        break
                    time.sleep(RETRY_CAP_SECONDS)
            bridged = (
                stack.deployment is not None and "serving_function" in stack.invoker.environment["MODELS"]
            )
    return {
        "create_seconds": CREATE_SECONDS,
        "state_before": before,
        "bridge": bridged,
        "first_request": {k: v for k, v in first.items() if k != "answer"},
        "later_served_by": later["served_by"],
        "answers_agree": _agree(first["answer"], later["answer"]),
        "goal_met": first["served_by"] == "lambda" and first["seconds_to_200"] <= 10.0,
    }
