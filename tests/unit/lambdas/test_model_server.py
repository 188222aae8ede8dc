"""The Lambda-hosted model (lambdas/model_server): the endpoint's answers, from the ONNX export, with no
torch, no transformers and none of the packages the function's asset leaves out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from model_code import inference
from model_code.package import write_archive
from tests.trained_models import score_spread
from tests.unit.model_code.test_onnx import BACKBONES, REQUESTS, TOLERANCE, Exported, no_torch_environment

REPO = Path(__file__).resolve().parents[3]
BUCKET = "artifacts"
# What the function's asset does not ship (requirements-serving-lambda.txt): an import of any of them
# fails in the handler subprocess, as it would on Lambda.
ABSENT = (
    "torch",
    "transformers",
    "google.protobuf",
    "flatbuffers",
    "coloredlogs",
    "sympy",
    "uvicorn",
    "starlette",
)
HANDLER_WITHOUT_TORCH = """
import importlib, json, os, sys
for name in ABSENT:
    sys.modules[name] = None
sys.path.insert(0, os.path.join(REPO, "lambdas"))
from moto import mock_aws
import boto3
cases = json.loads(sys.argv[1])
answers = {}
with mock_aws():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    for preset, case in cases.items():
        s3.upload_file(case["archive"], "artifacts", f"{preset}/model.tar.gz")
        os.environ.update(MODEL_NAME=preset, MODEL_DATA=f"s3://artifacts/{preset}/model.tar.gz",
                          MODEL_CACHE_DIR=case["cache"])
        loaded = sys.modules.get("model_server.handler")
        module = importlib.reload(loaded) if loaded else importlib.import_module("model_server.handler")
        answers[preset] = [module.handler(event, None) for event in case["events"]]
heavy = sorted(n for n, m in sys.modules.items() if m and n.split(".")[0] in ("torch", "transformers"))
print(json.dumps({"answers": answers, "heavy": heavy}))
"""


def event(body: object) -> dict[str, str]:
    return {"body": body if isinstance(body, str) else json.dumps(body), "content_type": "application/json"}


def bodies(preset: str) -> list[dict]:
    """One input alone, the whole batch, and the batch with top_k (every label, best first)."""
    items = [{"text": i[0], "text_pair": i[1]} if isinstance(i, tuple) else i for i in REQUESTS[preset]]
    return [{"inputs": items[0]}, {"inputs": items}, {"inputs": items, "parameters": {"top_k": 20}}]


def endpoint_answer(model, body: dict) -> list:
    """What the endpoint answers (model_code's handlers, as the model server runs them)."""
    request = inference.input_fn(json.dumps(body), "application/json")
    payload, _ = inference.output_fn(inference.predict_fn(request, model), None)
    return json.loads(payload)


def assert_same_answers(got: list, expected: list) -> None:
    assert len(got) == len(expected)
    for entry, wanted in zip(got, expected, strict=True):
        entries, wanted = (entry, wanted) if isinstance(wanted, list) else ([entry], [wanted])
        assert [e["label"] for e in entries] == [w["label"] for w in wanted]
        np.testing.assert_allclose(
            [e["score"] for e in entries], [w["score"] for w in wanted], atol=TOLERANCE
        )


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_backbone) -> Exported:
    return Exported(tmp_path_factory.mktemp("onnx"), tiny_backbone)


@pytest.mark.slow
def test_the_function_answers_as_the_endpoint_for_every_preset_without_torch(exported, tmp_path):
    cases, expected = {}, {}
    for preset in sorted(BACKBONES):
        model_dir = exported[preset]
        # The endpoint's path: the torch model (the runtime the default server image falls back on).
        model = inference.model_fn(str(model_dir))
        expected[preset] = [endpoint_answer(model, body) for body in bodies(preset)]
        archive = write_archive(model_dir=model_dir, output=tmp_path / preset / "model.tar.gz")
        events = [event(body) for body in bodies(preset)]
        cases[preset] = {"archive": str(archive), "events": events, "cache": str(tmp_path / preset / "tmp")}
    script = f"ABSENT = {ABSENT!r}\nREPO = {str(REPO)!r}\n" + HANDLER_WITHOUT_TORCH
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(cases)],
        env=no_torch_environment(
            tmp_path,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="x",
            AWS_SECRET_ACCESS_KEY="x",
            ORT_THREADS="1",
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout.splitlines()[-1])
    assert output["heavy"] == []
    for preset, answers in output["answers"].items():
        for got, wanted in zip(answers, expected[preset], strict=True):
            assert got["status"] == 200 and got["content_type"] == "application/json", got
            assert_same_answers(json.loads(got["body"]), wanted)
        # Scores vary across inputs, so agreeing within the tolerance is not agreeing on a constant.
        ranked = json.loads(answers[2]["body"])
        labels = sorted(entry["label"] for entry in ranked[0])
        matrix = [[{e["label"]: e["score"] for e in row}[label] for label in labels] for row in ranked]
        assert score_spread(matrix) > 1000 * TOLERANCE, preset


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield {
            "s3": s3,
            "dynamodb": boto3.client("dynamodb", region_name="us-east-1"),
            "sagemaker": boto3.client("sagemaker", region_name="us-east-1"),
        }


def archive_of(exported, preset: str, tmp_path: Path) -> Path:
    return write_archive(model_dir=exported[preset], output=tmp_path / "archives" / preset / "model.tar.gz")


def server(aws, tmp_path: Path, clock: Clock, **environ: str):
    from model_server.settings import server_from_environ

    built = server_from_environ(
        {"MODEL_NAME": "m", "MODEL_CACHE_DIR": str(tmp_path / "tmp"), "ORT_THREADS": "1", **environ}, **aws
    )
    built.artifact.clock = clock
    return built


def labels_of(answer: dict) -> set[str]:
    assert answer["status"] == 200, answer
    return {entry["label"] for entry in json.loads(answer["body"])}


CIRCRNA_LABELS = {"circRNA", "lncRNA"}
SEQUENCES = {"inputs": ["ACGTTGCAACGTAGCTAGCTAGGATCC", "GGGGCCCCAAAATTTT"], "parameters": {"top_k": 20}}


def all_labels(answer: dict) -> set[str]:
    assert answer["status"] == 200, answer
    return {entry["label"] for row in json.loads(answer["body"]) for entry in row}


@pytest.mark.slow
def test_a_new_artifact_at_the_same_key_is_loaded_once_the_check_interval_passed(exported, aws, tmp_path):
    clock = Clock()
    aws["s3"].upload_file(str(archive_of(exported, "circrna", tmp_path)), BUCKET, "m/model.tar.gz")
    model = server(
        aws, tmp_path, clock, MODEL_DATA=f"s3://{BUCKET}/m/model.tar.gz", ARTIFACT_CHECK_SECONDS="60"
    )
    assert all_labels(model.answer(event(SEQUENCES))) == CIRCRNA_LABELS
    assert set(model.timings) == {"artifact_fetch", "session_creation", "first_prediction"}
    first_dir = model.artifact.model_dir
    # Only what the ONNX predictor reads is unpacked: no safetensors weights, no code/.
    assert (first_dir / "model.onnx").is_file() and not list(first_dir.glob("*.safetensors"))
    assert not (first_dir / "code").exists()
    aws["s3"].upload_file(str(archive_of(exported, "medical-specialty", tmp_path)), BUCKET, "m/model.tar.gz")
    clock.now += 59  # within the interval: the container does not look (no S3 call per request)
    assert all_labels(model.answer(event(SEQUENCES))) == CIRCRNA_LABELS
    clock.now += 2
    assert all_labels(model.answer(event(SEQUENCES))) - CIRCRNA_LABELS
    assert not first_dir.exists(), "the previous artifact stays in /tmp"


@pytest.mark.slow
def test_the_artifact_follows_the_endpoint_configuration_the_state_table_records(exported, aws, tmp_path):
    clock = Clock()
    aws["dynamodb"].create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for run, preset in (("1", "circrna"), ("2", "medical-specialty")):
        aws["s3"].upload_file(str(archive_of(exported, preset, tmp_path)), BUCKET, f"m/run{run}/model.tar.gz")
        aws["sagemaker"].create_model(
            ModelName=f"m-model-{run}",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
            PrimaryContainer={"Image": "image", "ModelDataUrl": f"s3://{BUCKET}/m/run{run}/model.tar.gz"},
        )
        aws["sagemaker"].create_endpoint_config(
            EndpointConfigName=f"m-config-{run}",
            ProductionVariants=[
                {
                    "VariantName": "v",
                    "ModelName": f"m-model-{run}",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        )
    # No state item yet: the deployed configuration (ENDPOINT_CONFIG_NAME) names the artifact.
    model = server(
        aws,
        tmp_path,
        clock,
        STATE_TABLE="state",
        ENDPOINT_CONFIG_NAME="m-config-1",
        ARTIFACT_CHECK_SECONDS="30",
    )
    assert all_labels(model.answer(event(SEQUENCES))) == CIRCRNA_LABELS
    # A training run finished and recorded its configuration: the next look after 30 s serves it.
    aws["dynamodb"].put_item(
        TableName="state", Item={"model": {"S": "m"}, "endpoint_config_name": {"S": "m-config-2"}}
    )
    clock.now += 31
    assert all_labels(model.answer(event(SEQUENCES))) - CIRCRNA_LABELS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("invocation", "status", "code", "names"),
    [
        (event("not json"), 400, "invalid_input", "JSON"),
        (event({"input": ["ACGT"]}), 400, "invalid_input", "inputs"),
        (event({"inputs": [42]}), 400, "invalid_input", "inputs[0]"),
        (event({"inputs": ["ACGT"], "parameters": {"top_k": 0}}), 400, "invalid_input", "top_k"),
        ({"content_type": "application/json"}, 400, "invalid_input", "body"),
        ("just a string", 400, "invalid_input", "body"),
        ({"body": "{}", "content_type": 7}, 400, "invalid_input", "content_type"),
    ],
)
def test_bad_input_answers_the_model_servers_error_shape_and_never_raises(
    exported, aws, tmp_path, invocation, status, code, names
):
    aws["s3"].upload_file(str(archive_of(exported, "circrna", tmp_path)), BUCKET, "m/model.tar.gz")
    model = server(aws, tmp_path, Clock(), MODEL_DATA=f"s3://{BUCKET}/m/model.tar.gz")
    answer = model.answer(invocation)
    assert answer["status"] == status and answer["content_type"] == "application/json"
    error = json.loads(answer["body"])["error"]
    assert error["code"] == code and names in error["message"], error
    assert set(error) == {"code", "message"}


def test_an_artifact_that_cannot_be_read_answers_502_naming_it(aws, tmp_path):
    aws["s3"].put_object(Bucket=BUCKET, Key="m/model.tar.gz", Body=b"not a tar.gz")
    model = server(aws, tmp_path, Clock(), MODEL_DATA=f"s3://{BUCKET}/m/model.tar.gz")
    answer = model.answer(event({"inputs": ["ACGT"]}))
    assert answer["status"] == 502
    error = json.loads(answer["body"])["error"]
    assert error["code"] == "model_error" and f"s3://{BUCKET}/m/model.tar.gz" in error["message"]


def test_a_model_with_no_artifact_yet_answers_502_saying_training_must_finish(aws, tmp_path):
    model = server(aws, tmp_path, Clock(), ENDPOINT_CONFIG_NAME="", STATE_TABLE="state")
    aws["dynamodb"].create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    answer = model.answer(event({"inputs": ["ACGT"]}))
    assert (
        answer["status"] == 502
        and "training run must finish" in json.loads(answer["body"])["error"]["message"]
    )


@pytest.mark.parametrize(
    ("environ", "threads"),
    [
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, 1),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3538"}, 2),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240"}, 6),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240", "ORT_THREADS": "3"}, 3),
    ],
)
def test_onnx_runtime_threads_follow_the_functions_memory_unless_set(environ, threads):
    from model_server.server import ort_threads

    assert ort_threads(environ) == threads


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MODEL_DATA": "s3://b/k"}, "MODEL_NAME"),
        ({"MODEL_NAME": "m"}, "MODEL_DATA"),
        (
            {"MODEL_NAME": "m", "MODEL_DATA": "s3://b/k", "ARTIFACT_CHECK_SECONDS": "soon"},
            "ARTIFACT_CHECK_SECONDS",
        ),
        ({"MODEL_NAME": "m", "MODEL_DATA": "s3://b/k", "ORT_THREADS": "0"}, "ORT_THREADS"),
    ],
)
def test_bad_settings_fail_the_cold_start_naming_the_variable(environ, named):
    from model_server.settings import server_from_environ

    with pytest.raises(ValueError, match=named):
        server_from_environ(environ, s3=None, dynamodb=None, sagemaker=None)
