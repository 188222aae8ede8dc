"""The API's payloads as pydantic models: the routes' typed signatures, from which Powertools both
validates requests and writes the OpenAPI document (``GET /openapi.json``, docs/openapi.json).

API Gateway's request model (stacks/api.py) is read from that document, so the gateway, the invoker and
the document cannot disagree about what a predict body is.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

# Whitespace-only text is no sequence: at least one non-space character (JSON Schema ``pattern``).
Sequence = Annotated[str, Field(min_length=1, pattern=r"\S", description="a sequence or a text")]
State = Literal["asleep", "waking", "awake", "sleeping", "failed"]


class Strict(BaseModel):
    # strict: a number is not a sequence and true is not a top_k, as JSON Schema says.
    model_config = ConfigDict(extra="forbid", strict=True)


class Pair(Strict):
    """Two texts scored together (pair presets: aptamer-pairs, entailment)."""

    text: Sequence
    text_pair: Sequence


class Parameters(Strict):
    top_k: Annotated[int, Field(ge=1, description="labels per input, best first")] | None = None


class PredictRequest(Strict):
    """The Hugging Face text-classification pipeline's payload."""

    inputs: (
        Sequence
        | Pair
        | Annotated[list[Sequence], Field(min_length=1)]
        | Annotated[list[Pair], Field(min_length=1)]
    ) = Field(description="a sequence, a list of sequences, a pair, or a list of pairs")
    parameters: Parameters = Field(default_factory=Parameters)


class Score(BaseModel):
    label: str
    score: float


class Prediction(RootModel[list[Score] | list[list[Score]]]):
    """One entry per input, in input order: a score, or with top_k a list of them, best first."""


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. invalid_input, unknown_model, waking")
    message: str = Field(description="what went wrong, naming the input at fault")


class ErrorBody(BaseModel):
    error: ErrorDetail


Mode = Literal["on_demand", "serverless", "always_on", "lambda"]
MODE_DESCRIPTION = (
    "on_demand: an endpoint created on first use and deleted when idle (answered by the model's Lambda "
    "function while it wakes, where the model has one); serverless: SageMaker Serverless Inference; "
    "always_on: an autoscaled endpoint; lambda: served only by a Lambda function running the model's ONNX "
    "export, no endpoint. X-Served-By on each prediction says which answered"
)


class ModelSummary(BaseModel):
    model: str
    preset: str
    mode: Mode = Field(description=MODE_DESCRIPTION)


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelStatus(BaseModel):
    # Lifecycle fields are added over time (e.g. estimated_ready_at): clients ignore what they do not know.
    model_config = ConfigDict(extra="allow")

    model: str
    preset: str
    mode: Mode = Field(description=MODE_DESCRIPTION)
    endpoint_name: str = Field(description="empty in mode lambda, which has no endpoint")
    idle_minutes: int
    state: State
    last_invoked_at: float | None = Field(description="epoch seconds of the last prediction")
    state_changed_at: float | None
    failure_reason: str | None


class WakeAnswer(BaseModel):
    model: str
    state: State


class Evaluation(RootModel[dict[str, Any]]):
    """The model's evaluation.json: accuracy, per-class and macro precision/recall/F1, ROC AUC for two
    classes, confusion matrix."""
