"""The BYOC model server from model_code, run as its own process and kept running like an instance.

SageMaker replaces a container that dies; the supervisor does the same: when the process exits without
being asked to, it is started again on the same port, so the endpoint answers again once it is back.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from .processes import free_port, spawn, stop

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 180.0
# A server that ran this long before it died is restarted at once; one that died sooner, after a backoff.
STABLE_SECONDS = 30.0


class ModelServer:
    """``model_code/serve`` (the BYOC container's command) serving one model directory on 127.0.0.1:port."""

    def __init__(self, *, name: str, model_dir: Path, environment: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.model_dir = model_dir
        self.port = free_port()
        self._environment = {
            **environment,
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "SEQSERVE_MODEL_DIR": str(model_dir),
            # One worker process: the supervisor watches (and a test can kill) exactly one process.
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self._log_file = log_dir / f"model-server-{name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._process is None else self._process.pid

    def start(self) -> None:
        self._launch()
        self.wait_ready()
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"supervise-{self.name}", daemon=True
        )
        self._supervisor.start()

    def _launch(self) -> None:
        # The container's own command (``docker run IMAGE serve``), bound to loopback only.
        argv = [sys.executable, str(REPO_ROOT / "model_code" / "serve"), "--host", "127.0.0.1"]
        with self._lock:
            self._process = spawn(
                argv=argv, environment=self._environment, log_file=self._log_file, cwd=REPO_ROOT
            )

    def wait_ready(self, *, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                process = self._process
            if process is not None and process.poll() is not None and not self._supervised():
                raise RuntimeError(
                    f"model server {self.name} exited with {process.returncode}; see {self._log_file}"
                )
            try:
                ping = httpx.get(f"{self.url}/ping", timeout=2)
            except httpx.TransportError:
                ping = None
            if ping is not None and ping.status_code == 200:
                return
            if ping is not None and ping.status_code == 500:
                # The server is up but its model did not load: waiting longer cannot help.
                raise RuntimeError(f"model server {self.name} could not load {self.model_dir}: {ping.text}")
            time.sleep(0.2)
        raise TimeoutError(f"model server {self.name} not ready after {timeout:.0f}s; see {self._log_file}")

    def _supervised(self) -> bool:
        return self._supervisor is not None

    def _supervise(self) -> None:
        backoff = 0.0
        launched = time.monotonic()
        while not self._stopping.wait(0.2):
            with self._lock:
                process = self._process
            if process is None or process.poll() is None:
                continue
            # A server that dies soon after each start is retried less and less often, not in a loop.
            backoff = 0.0 if time.monotonic() - launched > STABLE_SECONDS else min(30.0, 2 * backoff or 1.0)
            if self._stopping.wait(backoff):
                return
            self.restarts += 1
            launched = time.monotonic()
            self._launch()

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        with self._lock:
            process = self._process
        if process is not None:
            stop(process)
