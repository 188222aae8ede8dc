"""The artifact's code/inference.py served by the SageMaker inference toolkit, as the stock PyTorch image
serves it: the toolkit's handler service and Transformer import ``inference`` from ``code/`` and call it
with TorchServe's request context. Errors must come back as the API's JSON error body with their status,
never as the toolkit's message-plus-traceback body."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_code.package import write_code_dir
from tests.unit.model_code.test_inference import CIRCRNA_SEQUENCES, write_model_dir

# Runs in a fresh interpreter with only the artifact's code/ importable (no repository on sys.path),
# like the stock image: the handler service is initialised once, then handles each request with the
# same context object, whose request headers TorchServe replaces per request.
TOOLKIT_SCRIPT = """
import json, sys
from sagemaker_inference.default_handler_service import DefaultHandlerService
from sagemaker_inference.transformer import Transformer
from ts.context import Context, RequestProcessor

model_dir, requests = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, model_dir + "/code")
context = Context("model", model_dir, {}, 1, None, "0.12.0")
service = DefaultHandlerService(Transformer())
service.initialize(context)
for body, content_type, accept in requests:
    context.request_processor = [RequestProcessor({"Content-Type": content_type, "Accept": accept})]
    (answer,) = service.handle([{"body": body.encode()}], context)
    print(json.dumps({
        "status": context.get_response_status(0)[0],
        "content_type": context.get_response_content_type(0),
        "body": answer if isinstance(answer, str) else answer.decode(),
    }))
"""


def serve_through_toolkit(model_dir: Path, requests: list[tuple[str, str, str]]) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEQSERVE_", "SAGEMAKER_"))}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-c", TOOLKIT_SCRIPT, str(model_dir), json.dumps(requests)],
        env=env,
        cwd=model_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    # Inputs longer than 64 k-mers per end make this model raise inside forward(); short ones it serves.
    model_dir = write_model_dir(
        tmp_path_factory.mktemp("toolkit") / "model", preset_name="circrna", max_positions=64
    )
    write_code_dir(model_dir)
    return model_dir


@pytest.mark.slow
def test_toolkit_answers_predictions_and_every_error_as_the_apis_json_body(artifact):
    ok = json.dumps({"inputs": [CIRCRNA_SEQUENCES[0][:60], "ACGTACGTAC"]})
    answers = serve_through_toolkit(
        artifact,
        [
            (ok, "application/json", "application/json"),
            (json.dumps({"inputs": "ACGTZZ"}), "application/json", "application/json"),
            ("{not json", "application/json", "application/json"),
            (json.dumps({"inputs": ["ACGT"] * 65}), "application/json", "application/json"),
            (ok, "application/json", "text/csv"),
            (json.dumps({"inputs": "ACGT" * 100}), "application/json", "application/json"),
            (ok, "application/json", "application/json"),  # and it still serves after the errors
        ],
    )
    first, bad_letter, not_json, too_many, not_acceptable, crashed, again = answers
    assert first["status"] == 200 and first["content_type"] == "application/json"
    assert [set(entry) for entry in json.loads(first["body"])] == [{"label", "score"}] * 2
    assert again == first
    for answer, status, code in (
        (bad_letter, 400, "invalid_input"),
        (not_json, 400, "invalid_input"),
        (too_many, 413, "too_many_inputs"),
        (not_acceptable, 406, "not_acceptable"),
        (crashed, 500, "model_error"),
    ):
        assert answer["status"] == status, answer
        assert answer["content_type"] == "application/json"
        body = json.loads(answer["body"])
        assert set(body) == {"error"} and body["error"]["code"] == code, body
        assert "Traceback" not in answer["body"]
    assert "'Z'" in json.loads(bad_letter["body"])["error"]["message"]
    assert json.loads(crashed["body"])["error"]["message"] == "the model failed on this request (ValueError)"
