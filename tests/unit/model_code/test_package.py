"""model.tar.gz: the SageMaker layout, and serving from an unpacked artifact alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from model_code import inference, package
from tests.unit.model_code.test_inference import CIRCRNA_SEQUENCES, write_model_dir

REPO = Path(__file__).resolve().parents[3]

# What the SageMaker PyTorch inference toolkit does: code/ on sys.path, then ``import inference``.
TOOLKIT_IMPORT = """
import json, sys
model_dir = sys.argv[1]
sys.path.insert(0, model_dir + "/code")
import inference
model = inference.model_fn(model_dir)
body = json.dumps({"inputs": json.loads(sys.argv[2]), "parameters": {"top_k": 2}})
payload, content_type = inference.output_fn(
    inference.predict_fn(inference.input_fn(body, "application/json"), model), "application/json"
)
loaded_from = {name: getattr(sys.modules[name], "__file__", None) for name in ("inference", "model_code")}
try:
    inference.predict_fn(inference.input_fn(b'{"inputs": "ACGZ"}', "application/json"), model)
except Exception as error:
    refused = [type(error).__name__, error.status, error.message]
print(json.dumps({"prediction": json.loads(payload), "loaded_from": loaded_from, "refused": refused}))
"""


# The stock SageMaker PyTorch image's request path: TorchServe's Context and the inference toolkit's
# handler service and Transformer, which import ``inference`` from code/ (on PYTHONPATH in its workers).
STOCK_TOOLKIT = """
import json, sys
from sagemaker_inference.default_handler_service import DefaultHandlerService
from sagemaker_inference.default_inference_handler import DefaultInferenceHandler
from sagemaker_inference.transformer import Transformer
from ts.context import Context, RequestProcessor

model_dir = sys.argv[1]
service = DefaultHandlerService(transformer=Transformer(default_inference_handler=DefaultInferenceHandler()))
answers = []
# As TorchServe does: one context, initialised once, whose request headers are replaced per request.
context = Context("model", model_dir, {}, 1, None, "0.12.0")
for index, (body, headers) in enumerate(json.loads(sys.argv[2])):
    context.request_processor = [RequestProcessor(headers)]
    if index == 0:
        service.initialize(context)
    response = service.handle([{"body": body.encode()}], context)[0]
    status, phrase = context.get_response_status(0)
    answers.append([status, phrase, response])
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    directory = write_model_dir(tmp_path_factory.mktemp("trained") / "model", preset_name="circrna")
    (directory / "evaluation.json").write_text('{"accuracy": 0.5}')
    return directory


def run_package(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "model_code.package", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_archive_holds_the_model_files_at_its_root_and_the_handlers_under_code(model_dir, tmp_path):
    output = tmp_path / "out" / "model.tar.gz"
    result = run_package("--model-dir", str(model_dir), "--output", str(output))
    assert result.returncode == 0, result.stderr
    with tarfile.open(output) as tar:
        names = set(tar.getnames())
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
        "seqserve.json",
        "evaluation.json",
    } <= names
    assert {"code/inference.py", "code/requirements.txt", "code/_package.py", "code/__init__.py"} <= names
    assert "code/serving/predictor.py" in names and "code/tokenization/nucleotide.py" in names
    assert not any(name.startswith("/") or ".." in name.split("/") for name in names)


def test_packaging_twice_gives_the_same_bytes_and_replaces_a_stale_code_dir(model_dir, tmp_path):
    first = package.write_archive(model_dir=model_dir, output=tmp_path / "a.tar.gz")
    package.write_code_dir(model_dir)
    (model_dir / "code" / "stale.py").write_text("raise SystemExit('old code')\n")
    second = package.write_archive(model_dir=model_dir, output=tmp_path / "b.tar.gz")
    assert first.read_bytes() == second.read_bytes()


def test_write_code_dir_makes_the_model_dir_itself_servable(model_dir):
    code = package.write_code_dir(model_dir)
    assert (code / "inference.py").read_text() == (REPO / "model_code" / "inference.py").read_text()
    assert (code / "requirements.txt").read_text() == (
        REPO / "model_code" / "requirements-serving.txt"
    ).read_text()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            name, _, version = line.partition("==")
            pins[name.split("[")[0].strip().lower()] = version.strip()
    return pins


def test_the_image_requirements_leave_torch_to_the_image_and_match_the_repo_pins():
    repo_pins = _pins(REPO / "requirements.txt")
    serving = _pins(REPO / "model_code" / "requirements-serving.txt")
    training = _pins(REPO / "model_code" / "requirements.txt")
    assert {"transformers", "safetensors", "tokenizers"} <= serving.keys()
    # SageMaker's training toolkit installs only this file: it must bring what train.py imports.
    assert {"accelerate", "scikit-learn", "matplotlib"} <= training.keys()
    assert "-r requirements-serving.txt" in (REPO / "model_code" / "requirements.txt").read_text()
    for pins in (serving, training):
        assert "torch" not in pins
        assert {name: repo_pins.get(name) for name in pins} == pins


def test_an_unpacked_artifact_serves_on_its_own_as_the_toolkit_imports_it(model_dir, tmp_path):
    archive = package.write_archive(model_dir=model_dir, output=tmp_path / "model.tar.gz")
    unpacked = tmp_path / "opt" / "ml" / "model"
    unpacked.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    inputs = list(CIRCRNA_SEQUENCES[:3])
    # -I: no PYTHONPATH, no user site, no current folder; run from an empty folder with the Hub off.
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_"))}
    environment["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [sys.executable, "-I", "-c", TOOLKIT_IMPORT, str(unpacked), json.dumps(inputs)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["loaded_from"] == {
        "inference": str(unpacked / "code" / "inference.py"),
        "model_code": str(unpacked / "code" / "__init__.py"),
    }
    assert served["refused"] == [
        "InferenceError",
        400,
        "inputs: character 'Z' at position 4 is invalid (expected one of ABCDGHKMNRSTUVWY)",
    ]
    here = inference.model_fn(str(model_dir))
    body = json.dumps({"inputs": inputs, "parameters": {"top_k": 2}})
    expected, _ = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, "application/json"), here), None
    )
    assert served["prediction"] == json.loads(expected)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model-dir", "{missing}", "--output", "{out}"], "not a directory"),
        (["--model-dir", "{empty}", "--output", "{out}"], "seqserve.json is missing"),
        (["--model-dir", "{model}", "--output", "{model}/model.tar.gz"], "must not be inside the model dir"),
    ],
)
def test_bad_arguments_exit_2_with_a_one_line_reason(model_dir, tmp_path, arguments, message):
    (tmp_path / "empty").mkdir()
    paths = {
        "missing": tmp_path / "nope",
        "empty": tmp_path / "empty",
        "out": tmp_path / "m.tar.gz",
        "model": model_dir,
    }
    result = run_package(*(argument.format(**paths) for argument in arguments))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m.tar.gz").exists() and not (model_dir / "model.tar.gz").exists()


def test_the_stock_inference_toolkit_serves_the_artifact_with_our_statuses(model_dir, tmp_path):
    archive = package.write_archive(model_dir=model_dir, output=tmp_path / "model.tar.gz")
    unpacked = tmp_path / "model"
    unpacked.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    json_body = json.dumps({"inputs": CIRCRNA_SEQUENCES[0], "parameters": {"top_k": 2}})
    requests = [
        (json_body, {"Content-Type": "application/json", "Accept": "application/json"}),
        ('{"inputs": ["ACGT", "ACGZ"]}', {"Content-Type": "application/json"}),
        ("ACGT", {"Content-Type": "text/csv"}),
        (json_body, {"Content-Type": "application/json", "Accept": "text/html"}),
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_", "SAGEMAKER_"))}
    environment.update(PYTHONPATH=str(unpacked / "code"), HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", STOCK_TOOLKIT, str(unpacked), json.dumps(requests)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    ok, invalid, media_type, accept = json.loads(result.stdout.strip().splitlines()[-1])
    here = inference.model_fn(str(model_dir))
    expected, _ = inference.output_fn(
        inference.predict_fn(inference.input_fn(json_body, "application/json"), here), None
    )
    assert (ok[0], json.loads(ok[2])) == (200, json.loads(expected))

    # The toolkit answers with our status and the API's JSON error body (no traceback).
    def error(answer: list) -> tuple[int, str, str]:
        body = json.loads(answer[2])["error"]
        return answer[0], body["code"], body["message"]

    status, code, message = error(invalid)
    assert (status, code) == (400, "invalid_input")
    assert message.startswith("inputs[1]: character 'Z' at position 4 is invalid")
    assert "Traceback" not in message
    assert error(media_type)[:2] == (415, "unsupported_media_type")
    assert error(accept)[:2] == (406, "not_acceptable")
