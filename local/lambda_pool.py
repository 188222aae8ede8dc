"""Run a real Lambda handler the way Lambda does: in processes of its own, with only its environment.

Each worker (``local.lambda_worker``) is one execution environment handling one event at a time;
concurrent events go to concurrent workers, as concurrent Lambda executions do, up to ``concurrency``
(the function's reserved concurrency) after which events wait for a free worker.
"""

from __future__ import annotations

import contextlib
import json
import queue
import select
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from .processes import stop

REPO_ROOT = Path(__file__).resolve().parent.parent
COLD_START_TIMEOUT_SECONDS = 60.0


class LambdaError(RuntimeError):
    """The handler raised (Lambda's unhandled function error), or its worker died mid-event."""


class LambdaTimeout(LambdaError):
    """The handler ran past the function's timeout; like Lambda, its environment was discarded."""


class _Worker:
    def __init__(self, *, argv: list[str], environment: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            argv,
            env=dict(environment),
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        self._stdout: IO[str] = self.process.stdout  # type: ignore[assignment]

    def wait_ready(self) -> None:
        line = self._stdout.readline()
        if not line:
            raise LambdaError(f"the Lambda worker exited during its cold start ({self.process.wait()})")

    def invoke(self, event: dict[str, Any], *, timeout: float) -> Any:
        self._stdin.write(json.dumps(event) + "\n")
        self._stdin.flush()
        # One answer line per event, so nothing is left buffered and select() sees the next one.
        ready, _, _ = select.select([self._stdout], [], [], timeout)
        if not ready:
            self.process.kill()
            self.process.wait()
            raise LambdaTimeout(f"the handler did not finish within {timeout:g} seconds")
        line = self._stdout.readline()
        if not line:
            raise LambdaError("the Lambda worker died while handling the event")
        answer = json.loads(line)
        if "errorType" in answer:
            raise LambdaError(f"{answer['errorType']}: {answer['errorMessage']}")
        return answer["result"]

    def stop(self) -> None:
        self._stdin.close()
        stop(self.process)
        self._stdout.close()


class LambdaFunction:
    """One function: ``invoke(event)`` runs the handler in one of ``concurrency`` worker processes."""

    def __init__(
        self,
        *,
        name: str,
        code_dir: Path,
        handler: str,
        environment: Mapping[str, str],
        concurrency: int,
        timeout_seconds: float,
        log_dir: Path,
        fault_plan: str = "",
        record_file: Path | None = None,
    ) -> None:
        """``fault_plan``: ``local.faults.plan_argument(...)``, AWS faults every worker injects into the
        handler's boto3 calls (empty: none). ``record_file``: where every worker appends the IAM requests
        of the handler's AWS calls (``local.request_recorder``; None: not recorded)."""
        self.name = name
        self.handler = handler
        self.record_file = record_file
        self._timeout = timeout_seconds
        self.log_file = log_dir / f"{name}.log"
        self._argv = [
            sys.executable,
            "-m",
            "local.lambda_worker",
            str(code_dir),
            handler,
            str(self.log_file),
            str(timeout_seconds),
            *([fault_plan] if fault_plan or record_file else []),
            *([str(record_file)] if record_file else []),
        ]
        self._environment = {
            **environment,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.environment = dict(self._environment)
        self._concurrency = concurrency
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [worker.process.pid for worker in self._workers]

    def warm(self) -> None:
        """Start every worker now and wait for their cold starts (provisioned concurrency, in effect)."""
        workers = [_Worker(argv=self._argv, environment=self._environment) for _ in range(self._concurrency)]
        with self._lock:
            self._workers.extend(workers)
        for worker in workers:
            worker.wait_ready()
            self._idle.put(worker)

    def invoke(self, event: dict[str, Any]) -> Any:
        worker = self._idle.get()
        try:
            if worker.process.poll() is not None:
                # A replacement did not come up after an earlier event: try a fresh one for this event.
                worker = self._replace(worker)
            return worker.invoke(event, timeout=self._timeout)
        except LambdaError:
            if worker.process.poll() is not None:
                # This event's error stands; a replacement that fails too is retried by the next event.
                with contextlib.suppress(LambdaError):
                    worker = self._replace(worker)
            raise
        finally:
            self._idle.put(worker)

    def _replace(self, dead: _Worker) -> _Worker:
        fresh = _Worker(argv=self._argv, environment=self._environment)
        with self._lock:
            self._workers[self._workers.index(dead)] = fresh
        try:
            fresh.wait_ready()
        except LambdaError:
            with self._lock:
                self._workers[self._workers.index(fresh)] = dead
            raise
        return fresh

    def stop(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()
