"""Errors that carry an HTTP status.

The handlers raise :class:`InferenceError` for anything the client can fix; the serving container and
the stock SageMaker image both turn it into ``{"error": {"code", "message"}}`` with its status. Parsing
(payload.py) and checking (validation.py) both raise it, so it lives apart from both.
"""

from __future__ import annotations

try:  # The stock SageMaker PyTorch image answers with this error's status instead of a 500.
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError
except ImportError:  # outside that image: a plain exception is all the BYOC server needs
    _ToolkitError = Exception


class InferenceError(_ToolkitError):
    """A request the handlers refuse, with the HTTP status and error code the client sees."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message, code)
        self.status = status
        self.status_code = status  # the inference toolkit's names for the same three values
        self.code = code
        self.phrase = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


def invalid_input(message: str) -> InferenceError:
    return InferenceError(400, "invalid_input", message)
