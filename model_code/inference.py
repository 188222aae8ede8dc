"""The SageMaker inference-toolkit handlers: model_fn, input_fn, predict_fn, output_fn.

The stock SageMaker PyTorch image imports this file as the top-level module ``inference`` with the
artifact's ``code/`` on sys.path; the BYOC server and the local stack import it as
``model_code.inference``. Errors the client can fix are :class:`InferenceError` with their status.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

if not __package__:
    # Imported by the toolkit from code/: register that folder as the package model_code first.
    import _package

    _package.ensure_package()

from model_code.serving.errors import InferenceError
from model_code.serving.payload import Request, accepts_json, parse_request
from model_code.serving.scoring import Prediction, serving_runtime, torch_threads
from model_code.serving.validation import Limits

if TYPE_CHECKING:
    from model_code.serving.onnx_predictor import OnnxPredictor
    from model_code.serving.predictor import Predictor

RESPONSE_TYPE = "application/json"

logger = logging.getLogger("seqserve.inference")


def model_fn(model_dir: str) -> Predictor | OnnxPredictor:
    """Load once, from local files; limits, threads and runtime come from ``SEQSERVE_*`` variables.

    The ONNX runtime (the cpu-onnx image) serves the artifact's ONNX model when its export passed the
    parity check; torch is imported only on the torch path, which an image without torch never takes.
    """
    limits, threads = Limits.from_environ(os.environ), torch_threads(os.environ)
    if serving_runtime(os.environ) == "onnx":
        from model_code.serving.onnx_predictor import load_onnx_predictor_if_usable

        predictor = load_onnx_predictor_if_usable(model_dir, limits=limits, threads=threads)
        if predictor is not None:
            logger.info("serving %s with ONNX Runtime", model_dir)
            return predictor
    import torch

    from model_code.serving.predictor import load_predictor

    torch.set_num_threads(threads)
    predictor = load_predictor(model_dir, limits=limits)
    logger.info("serving %s with torch", model_dir)
    return predictor


@dataclass(frozen=True)
class Refused:
    """An error answer carried from input_fn/predict_fn to output_fn on the inference toolkit's path.

    The toolkit passes its request ``context`` to handlers that take one more argument, and answers an
    exception that escapes them with its message and Python traceback as the body. So, given a context,
    the handlers catch errors and output_fn answers them as the API does: ``{"error": {"code",
    "message"}}`` with the error's status set on the context. Without a context (the BYOC server, the
    local stack, evaluation) they raise, and their caller answers.
    """

    error: InferenceError


def _refused(error: Exception) -> Refused:
    if isinstance(error, InferenceError):
        return Refused(error)
    logger.error("the model failed on a request", exc_info=error)
    return Refused(
        InferenceError(500, "model_error", f"the model failed on this request ({type(error).__name__})")
    )


def input_fn(input_data: object, content_type: str | None, context: object = None) -> Request | Refused:
    if context is None:
        return parse_request(input_data, content_type)
    try:
        return parse_request(input_data, content_type)
    except Exception as error:
        return _refused(error)


def predict_fn(
    data: Request | Refused, model: Predictor | OnnxPredictor, context: object = None
) -> Prediction | Refused:
    if isinstance(data, Refused):
        return data
    if context is None:
        return model.predict(data)
    try:
        return model.predict(data)
    except Exception as error:
        return _refused(error)


def output_fn(
    prediction: Prediction | Refused, accept: str | None, context: object = None
) -> tuple[str, str]:
    """The answer and its type; with the toolkit's ``context``, errors too (see :class:`Refused`)."""
    if context is None:
        return _answer(prediction, accept)
    refused = prediction if isinstance(prediction, Refused) else None
    if refused is None:
        try:
            return _answer(prediction, accept)
        except Exception as error:
            refused = _refused(error)
    status = refused.error.status
    context.set_response_status(code=status, phrase=HTTPStatus(status).phrase)
    return json.dumps(refused.error.body()), RESPONSE_TYPE


def _answer(prediction: Prediction, accept: str | None) -> tuple[str, str]:
    """One entry per input, as the Hugging Face text-classification pipeline answers, and its type."""
    if not accepts_json(accept):
        raise InferenceError(406, "not_acceptable", f"cannot answer in {accept!r}; accept {RESPONSE_TYPE}")
    entries: list[object] = []
    for row in prediction.scores:
        ranked = sorted(zip(prediction.labels, row, strict=True), key=lambda pair: pair[1], reverse=True)
        if prediction.top_k is None:
            label, score = ranked[0]
            entries.append({"label": label, "score": score})
        else:
            entries.append([{"label": label, "score": score} for label, score in ranked[: prediction.top_k]])
    return json.dumps(entries), RESPONSE_TYPE
