"""The bring-your-own-container model server: SageMaker's ``GET /ping`` and ``POST /invocations``.

A Starlette app under uvicorn, serving the same handlers as the stock image (model_fn, input_fn,
predict_fn, output_fn). The model loads in a background thread, so ``/ping`` answers 503 until it is
ready (and 500 if loading failed). Each worker runs one inference at a time; a request that waits or
runs longer than the timeout gets 504, a body over the size limit 413, a handler error its own status,
and anything else that breaks inside the model a short 500, never a traceback.

Workers: one per GPU on a GPU host (each sees only its own GPU), else one per CPU. Each worker holds a
slot (a locked file) in a folder the supervisor creates, and marks it once its model has loaded; any
worker's ``/ping`` is 200 only when every slot is held by a live worker that has loaded. A request that
times out is stopped at the model's next layer (a forward pre-hook raises in its thread), so the worker
is free for the next request instead of finishing the abandoned one.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from model_code.serving.errors import InferenceError
from model_code.serving.payload import accepts_json

logger = logging.getLogger("seqserve.server")

DEFAULT_MODEL_DIR = Path("/opt/ml/model")
DEFAULT_PORT = 8080
# SageMaker's own cap on an InvokeEndpoint payload.
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 60.0
# Set by ``serve`` for its workers: the folder of their slots (see WorkerSlots).
WORKER_DIR_VARIABLE = "SEQSERVE_WORKER_DIR"
_NVIDIA_DEVICE = re.compile(r"^nvidia(\d+)$")


def visible_gpus(environ: Mapping[str, str], *, dev: Path = Path("/dev")) -> tuple[str, ...]:
    """The GPU ids this container may use: ``CUDA_VISIBLE_DEVICES`` if set, else the NVIDIA device
    files (how SageMaker exposes a GPU host's GPUs). Read without importing torch."""
    if "CUDA_VISIBLE_DEVICES" in environ:
        ids = [item.strip() for item in environ["CUDA_VISIBLE_DEVICES"].split(",")]
        # CUDA stops at the first invalid id ("-1" is the usual "no GPU").
        valid = []
        for item in ids:
            if not item or item.startswith("-"):
                break
            valid.append(item)
        return tuple(valid)
    try:
        names = [path.name for path in dev.iterdir()]
    except OSError:
        return ()
    return tuple(str(n) for n in sorted(int(m[1]) for m in map(_NVIDIA_DEVICE.match, names) if m))


class WorkerSlots:
    """``count`` slots in ``directory``: a worker holds one with an exclusive lock on its file for its
    whole life (the kernel releases it when the process dies) and marks it once its model has loaded."""

    def __init__(self, directory: Path, count: int) -> None:
        self.directory = Path(directory)
        self.count = count
        self._held: dict[int, int] = {}

    def _lock(self, index: int) -> Path:
        return self.directory / f"worker-{index}.lock"

    def _ready(self, index: int) -> Path:
        return self.directory / f"worker-{index}.ready"

    def claim(self) -> int:
        """Hold the first free slot; its index picks the worker's GPU. RuntimeError if none is free."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            descriptor = os.open(self._lock(index), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(descriptor)
                continue
            # A slot freed by a dead worker keeps its mark until its new holder has loaded.
            self._ready(index).unlink(missing_ok=True)
            self._held[index] = descriptor
            return index
        raise RuntimeError(f"all {self.count} worker slots in {self.directory} are held")

    def mark_ready(self, index: int) -> None:
        if index not in self._held:
            raise RuntimeError(f"worker slot {index} is not held by this process")
        self._ready(index).touch()

    def _alive(self, index: int) -> bool:
        if index in self._held:
            return True
        try:
            descriptor = os.open(self._lock(index), os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # another process holds it
        else:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            return False
        finally:
            os.close(descriptor)

    def loaded(self) -> int:
        """How many slots a live worker holds with its model loaded."""
        return sum(1 for i in range(self.count) if self._ready(i).exists() and self._alive(i))


class RequestCancelled(Exception):
    """Raised in an inference thread whose request has timed out, at the model's next module call."""


_cancel_events: dict[int, threading.Event] = {}
_hook_lock = threading.Lock()
_hook_installed: list[bool] = []


def _stop_if_cancelled(module: object, args: object) -> None:
    event = _cancel_events.get(threading.get_ident())
    if event is not None and event.is_set():
        raise RequestCancelled


def install_cancellation_hook() -> None:
    """A global forward pre-hook: every torch module call checks its thread's cancel event.

    The ONNX image has no torch: there a timed-out request runs to its end (ONNX Runtime cannot be
    stopped mid-run), its answer is dropped, and the client already has its 504.
    """
    try:
        import torch
    except ImportError:
        return

    with _hook_lock:
        if not _hook_installed:
            torch.nn.modules.module.register_module_forward_pre_hook(_stop_if_cancelled)
            _hook_installed.append(True)


def run_cancellable(cancel: threading.Event, function: Callable, *args: object) -> object:
    """``function(*args)`` in this thread, stopped with RequestCancelled once ``cancel`` is set."""
    if cancel.is_set():
        raise RequestCancelled
    ident = threading.get_ident()
    _cancel_events[ident] = cancel
    try:
        return function(*args)
    finally:
        _cancel_events.pop(ident, None)


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    model_dir: Path = DEFAULT_MODEL_DIR
    port: int = DEFAULT_PORT
    workers: int = 1
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # GPU ids the workers share out (one worker per GPU by default); empty on a CPU host.
    gpus: tuple[str, ...] = ()
    # The workers' slot folder (set by ``serve``); None for an app used on its own (tests).
    worker_dir: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be from 1 to 65535, got {self.port}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if not self.timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be positive, got {self.timeout_seconds}")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {self.max_body_bytes}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, dev: Path = Path("/dev")) -> ServerConfig:
        """SageMaker's variables, plus ``SEQSERVE_MODEL_DIR`` and ``SEQSERVE_MAX_BODY_BYTES``.

        Without ``SAGEMAKER_MODEL_SERVER_WORKERS``: one worker per GPU, or per CPU on a CPU host (a
        worker per CPU on a GPU host would put several copies of the model on each GPU).
        """
        sources = {
            "model_dir": ("SEQSERVE_MODEL_DIR", Path),
            "port": ("SAGEMAKER_BIND_TO_PORT", int),
            "workers": ("SAGEMAKER_MODEL_SERVER_WORKERS", int),
            "timeout_seconds": ("SAGEMAKER_MODEL_SERVER_TIMEOUT", float),
            "max_body_bytes": ("SEQSERVE_MAX_BODY_BYTES", int),
        }
        gpus = visible_gpus(environ, dev=dev)
        values: dict[str, object] = {"workers": len(gpus) or os.cpu_count() or 1, "gpus": gpus}
        if environ.get(WORKER_DIR_VARIABLE):
            values["worker_dir"] = Path(environ[WORKER_DIR_VARIABLE])
        for field, (key, parse) in sources.items():
            if key in environ:
                try:
                    values[field] = parse(environ[key])
                except ValueError:
                    raise ValueError(f"{key}: not a valid {parse.__name__}: {environ[key]!r}") from None
        try:
            return cls(**values)
        except ValueError as error:
            raise ValueError(f"server settings from the environment: {error}") from None


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class ModelHolder:
    """The loaded model, loaded once in a background thread; ``error`` says why loading failed."""

    def __init__(self, load: Callable[[], object]) -> None:
        self._load = load
        self.model: object | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="model-loader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.model = self._load()
        except Exception as error:
            logger.exception("loading the model failed")
            self.error = f"{type(error).__name__}: {error}"


def create_app(config: ServerConfig) -> Starlette:
    # Imported here: the supervisor process (``serve`` with several workers) never needs torch loaded.
    slots = WorkerSlots(config.worker_dir, config.workers) if config.worker_dir is not None else None
    slot = slots.claim() if slots is not None else 0
    if config.gpus:
        # Before torch touches CUDA: this worker sees only its own GPU.
        os.environ["CUDA_VISIBLE_DEVICES"] = config.gpus[slot % len(config.gpus)]
    from model_code import inference

    install_cancellation_hook()

    def load() -> object:
        model = inference.model_fn(str(config.model_dir))
        if slots is not None:
            slots.mark_ready(slot)
        return model

    holder = ModelHolder(load)
    # One inference at a time per worker: torch already uses the worker's threads for one batch.
    limiter: list[anyio.CapacityLimiter] = []

    def handle(model: object, body: bytes, content_type: str | None, accept: str | None) -> tuple[str, str]:
        return inference.output_fn(
            inference.predict_fn(inference.input_fn(body, content_type), model), accept
        )

    async def ping(request: Request) -> Response:
        if holder.error is not None:
            return error_response(500, "model_load_failed", holder.error)
        if holder.model is None:
            return error_response(503, "loading", "the model is still loading")
        if slots is not None and (loaded := slots.loaded()) < slots.count:
            return error_response(503, "loading", f"{loaded} of {slots.count} workers have loaded the model")
        return JSONResponse({"status": "ok"})

    async def invocations(request: Request) -> Response:
        if holder.model is None:
            return await ping(request)
        accept = request.headers.get("accept")
        if not accepts_json(accept):
            return error_response(
                406, "not_acceptable", f"cannot answer in {accept!r}; accept application/json"
            )
        body = await _read_body(request, limit=config.max_body_bytes)
        if isinstance(body, Response):
            return body
        content_type = request.headers.get("content-type")
        cancel = threading.Event()
        outcome: list[object] = []

        async def cancel_at_deadline() -> None:
            await anyio.sleep(config.timeout_seconds)
            cancel.set()

        async with anyio.create_task_group() as deadline:
            deadline.start_soon(cancel_at_deadline)
            try:
                # Not abandoned on timeout: the thread stops at the model's next layer, and the worker's
                # one inference slot is free only once it has.
                outcome.append(
                    await anyio.to_thread.run_sync(
                        run_cancellable,
                        cancel,
                        handle,
                        holder.model,
                        body,
                        content_type,
                        accept,
                        limiter=limiter[0],
                    )
                )
            except Exception as error:
                outcome.append(error)
            deadline.cancel_scope.cancel()
        (result,) = outcome
        if isinstance(result, InferenceError):
            return JSONResponse(result.body(), status_code=result.status)
        if isinstance(result, RequestCancelled):
            logger.warning("a request ran past %g s and was stopped", config.timeout_seconds)
            return error_response(
                504, "model_timeout", f"the model did not answer within {config.timeout_seconds:g} seconds"
            )
        if isinstance(result, Exception):
            logger.error("the model failed on a request", exc_info=result)
            return error_response(
                500, "model_error", f"the model failed on this request ({type(result).__name__})"
            )
        payload, media_type = result
        return Response(payload, media_type=media_type)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(
            404, "not_found", f"no route {request.url.path}: use GET /ping or POST /invocations"
        )

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(
            405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limiter.append(anyio.CapacityLimiter(1))
        holder.start()
        yield

    routes = [Route("/ping", ping, methods=["GET"]), Route("/invocations", invocations, methods=["POST"])]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed}, lifespan=lifespan)
    app.state.model_holder = holder
    return app


async def _read_body(request: Request, *, limit: int) -> bytes | Response:
    """The body, or a 413 as soon as it is known to exceed ``limit`` (before reading it all)."""
    too_large = error_response(413, "payload_too_large", f"the request body exceeds {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)
    return b"".join(chunks)


def app_from_environ() -> Starlette:
    """uvicorn's app factory: each worker process reads its settings from the environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(ServerConfig.from_environ(os.environ))


def main(argv: Sequence[str] | None = None) -> int:
    """``serve``: what SageMaker runs in the container (``docker run IMAGE serve``)."""
    parser = argparse.ArgumentParser(prog="serve", description="seqserve model server (SageMaker contract)")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default all: the container's)")
    args = parser.parse_args(argv)
    try:
        config = ServerConfig.from_environ(os.environ)
    except ValueError as error:
        print(f"serve: error: {error}", file=sys.stderr, flush=True)
        return 2
    # The workers' slots (see WorkerSlots); the workers inherit the variable.
    os.environ[WORKER_DIR_VARIABLE] = tempfile.mkdtemp(prefix="seqserve-workers-")
    uvicorn.run(
        "model_code.serving.server:app_from_environ",
        factory=True,
        host=args.host,
        port=config.port,
        workers=config.workers,
        log_level="info",
        timeout_graceful_shutdown=5,
        # A worker imports torch before it can answer the supervisor's health check: seconds on a busy CPU.
        timeout_worker_healthcheck=120,
    )
    return 0
