"""The bring-your-own-container model server: SageMaker's ``GET /ping`` and ``POST /invocations``.

A Starlette app under uvicorn, serving the same handlers as the stock image (model_fn, input_fn,
predict_fn, output_fn). The model loads in a background thread, so ``/ping`` answers 503 until it is
ready (and 500 if loading failed). Each worker runs one inference at a time; a request that waits or
runs longer than the timeout gets 504, a body over the size limit 413, a handler error its own status,
and anything else that breaks inside the model a short 500, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
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

from model_code.payload import accepts_json
from model_code.validation import InferenceError

logger = logging.getLogger("seqserve.server")

DEFAULT_MODEL_DIR = Path("/opt/ml/model")
DEFAULT_PORT = 8080
# SageMaker's own cap on an InvokeEndpoint payload.
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    model_dir: Path = DEFAULT_MODEL_DIR
    port: int = DEFAULT_PORT
    workers: int = 1
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

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
    def from_environ(cls, environ: Mapping[str, str]) -> ServerConfig:
        """SageMaker's variables, plus ``SEQSERVE_MODEL_DIR`` and ``SEQSERVE_MAX_BODY_BYTES``."""
        sources = {
            "model_dir": ("SEQSERVE_MODEL_DIR", Path),
            "port": ("SAGEMAKER_BIND_TO_PORT", int),
            "workers": ("SAGEMAKER_MODEL_SERVER_WORKERS", int),
            "timeout_seconds": ("SAGEMAKER_MODEL_SERVER_TIMEOUT", float),
            "max_body_bytes": ("SEQSERVE_MAX_BODY_BYTES", int),
        }
        values: dict[str, object] = {"workers": os.cpu_count() or 1}
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
    from model_code import inference

    holder = ModelHolder(lambda: inference.model_fn(str(config.model_dir)))
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
        try:
            with anyio.fail_after(config.timeout_seconds):
                payload, media_type = await anyio.to_thread.run_sync(
                    handle,
                    holder.model,
                    body,
                    content_type,
                    accept,
                    limiter=limiter[0],
                    abandon_on_cancel=True,
                )
        except InferenceError as error:
            return JSONResponse(error.body(), status_code=error.status)
        except TimeoutError:
            return error_response(
                504, "model_timeout", f"the model did not answer within {config.timeout_seconds:g} seconds"
            )
        except Exception as error:
            logger.exception("the model failed on a request")
            return error_response(
                500, "model_error", f"the model failed on this request ({type(error).__name__})"
            )
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
    uvicorn.run(
        "model_code.server:app_from_environ",
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
