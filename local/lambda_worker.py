"""One Lambda execution environment: ``python -m local.lambda_worker CODE_DIR HANDLER LOG_FILE TIMEOUT
[FAULT_PLAN [RECORD_FILE]]``.

It starts with only the function's environment (the stack passes nothing else), imports the handler
once (the cold start: module-level boto3 clients are created then), then handles one event at a time:
a JSON line on stdin in, a JSON line out on the stdout it started with. What the handler prints, as
Powertools' logs and metrics, goes to the function's log file instead, as Lambda sends it to CloudWatch.
FAULT_PLAN (``local.faults.plan_argument``) installs injected AWS faults on boto3's default session
before the handler module is imported, so the handler's module-level clients carry them.
RECORD_FILE (may come with an empty FAULT_PLAN) records every AWS call the handler makes as the IAM
requests it needs, one JSON line each (``local.request_recorder``), installed the same way.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name: str
    region: str
    # time.monotonic() when the function times out.
    deadline: float
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{os.getpid()}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def main(
    code_dir: str,
    handler_path: str,
    log_file: str,
    timeout_seconds: str,
    fault_plan: str = "",
    record_file: str = "",
) -> None:
    # Ctrl-C reaches the whole process group; the stack, not the terminal, decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    requests = sys.stdin
    log = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    if fault_plan:
        # Imported while this repository is still on sys.path; the handler's import below cannot see it.
        from local.faults import faults_from_argument, install_default_session

        faults, seed = faults_from_argument(fault_plan)
        install_default_session(faults, seed=seed)
    if record_file:
        from local import request_recorder

        request_recorder.install_default_session(record_file)
    # The function sees its own code and the installed packages, not this repository (``-m`` put it
    # first on sys.path to find this module): what the Lambda imports must ship in its asset.
    repository = Path(__file__).resolve().parent.parent
    sys.path[:] = [code_dir, *(p for p in sys.path if p and Path(p).resolve() != repository)]
    module_name, _, attribute = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    name, region = os.environ["AWS_LAMBDA_FUNCTION_NAME"], os.environ["AWS_REGION"]
    answers.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in requests:
        event = json.loads(line)
        try:
            deadline = time.monotonic() + float(timeout_seconds)
            context = LambdaContext(function_name=name, region=region, deadline=deadline)
            answer = {"result": handler(event, context)}
        except Exception as error:
            # Lambda reports an unhandled error as errorType/errorMessage and logs the traceback.
            traceback.print_exc()
            answer = {"errorType": type(error).__name__, "errorMessage": str(error)}
        sys.stdout.flush()
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:7])
