"""Answer the endpoint's /invocations payloads from the model's ONNX export, with model_code's handlers.

Invocation event (synchronous lambda:InvokeFunction): ``{"body": "<the JSON body /invocations gets>",
"content_type": "application/json"}``. Answer: ``{"status": 200, "body": "<the JSON the endpoint
answers>", "content_type": "application/json"}``; an input the model server refuses answers its status
and its ``{"error": {"code", "message"}}`` body (400 invalid input, 413, 406); a model or artifact that
fails answers 502. Nothing raises out of :meth:`ModelServer.answer`: the invoker reads every answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from model_code import inference
from model_code.serving.errors import InferenceError
from model_code.serving.onnx_predictor import OnnxPredictor, load_onnx_predictor_if_usable
from model_code.serving.validation import Limits
from model_server.artifact import ArtifactCache, ArtifactError

logger = logging.getLogger("seqserve.model_server")
RESPONSE_TYPE = inference.RESPONSE_TYPE
# Lambda gives a function one vCPU per 1769 MB of memory (up to 6); ONNX Runtime would otherwise size
# its pool from the two cores the OS reports even at 512 MB, where they share a fraction of one.
MB_PER_VCPU = 1769
MAX_VCPUS = 6


def ort_threads(environ: Mapping[str, str]) -> int:
    """``ORT_THREADS`` if set, else the vCPUs the function's memory buys (at least one)."""
    raw = environ.get("ORT_THREADS")
    if raw is not None:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"ORT_THREADS must be a positive integer, got {raw!r}")
        return int(raw)
    memory = int(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(MB_PER_VCPU)))
    return max(1, min(MAX_VCPUS, round(memory / MB_PER_VCPU)))


def answer(status: int, body: object) -> dict[str, object]:
    return {"status": status, "body": json.dumps(body), "content_type": RESPONSE_TYPE}


def model_failed(message: str) -> dict[str, object]:
    return answer(502, {"error": {"code": "model_error", "message": message}})


@dataclass(kw_only=True)
class ModelServer:
    """One container's model: loaded on the first request (and again when the artifact changes)."""

    artifact: ArtifactCache
    limits: Limits
    threads: int
    clock: Callable[[], float] = time.perf_counter
    predictor: OnnxPredictor | None = None
    # Seconds of the last load's steps (artifact fetch, session creation) and of the first prediction
    # after it: the cold start's parts, logged and read by `python -m bench lambda_serving`.
    timings: dict[str, float] = field(default_factory=dict)

    def answer(self, event: Any) -> dict[str, object]:
        body, content_type = self._request(event)
        if body is None:
            return answer(400, {"error": {"code": "invalid_input", "message": content_type}})
        try:
            predictor, first = self._predictor()
        except (ArtifactError, ValueError, OSError) as error:
            logger.error("the model could not be loaded: %s", error)
            return model_failed(f"the model could not be loaded: {error}")
        except Exception as error:  # boto3 and ONNX Runtime errors: the client sees a 502, never a trace
            logger.exception("the model could not be loaded")
            return model_failed(f"the model could not be loaded ({type(error).__name__})")
        started = self.clock()
        try:
            request = inference.input_fn(body, content_type)
            payload, media_type = inference.output_fn(inference.predict_fn(request, predictor), None)
        except InferenceError as error:
            return answer(error.status, error.body())
        except Exception as error:
            logger.exception("the model failed on a request")
            return model_failed(f"the model failed on this request ({type(error).__name__})")
        if first:
            self.timings["first_prediction"] = self.clock() - started
            logger.info("cold start: %s", json.dumps(self.timings))
        return {"status": 200, "body": payload, "content_type": media_type}

    @staticmethod
    def _request(event: Any) -> tuple[str | None, str]:
        """The body and content type, or None and why the event is not an invocation."""
        if not isinstance(event, dict) or not isinstance(event.get("body"), str):
            return (
                None,
                'the invocation must be {"body": "<JSON request>", "content_type": "application/json"}',
            )
        content_type = event.get("content_type", RESPONSE_TYPE)
        if not isinstance(content_type, str):
            return None, "content_type must be a string"
        return event["body"], content_type

    def _predictor(self) -> tuple[OnnxPredictor, bool]:
        """The predictor of the current artifact, and whether it was (re)loaded for this request."""
        started = self.clock()
        changed = self.artifact.refresh()
        if not changed and self.predictor is not None:
            return self.predictor, False
        fetched = self.clock()
        self.predictor = None
        predictor = load_onnx_predictor_if_usable(
            self.artifact.model_dir, limits=self.limits, threads=self.threads
        )
        if predictor is None:  # only where torch is importable, never in the function
            raise ArtifactError(f"{self.artifact.version.url} has no ONNX model that passed its parity check")
        self.timings = {"artifact_fetch": fetched - started, "session_creation": self.clock() - fetched}
        self.predictor = predictor
        logger.info("serving %s", self.artifact.version.url)
        return predictor, True
