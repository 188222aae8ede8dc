"""serving.runtime: which serving image a model gets, and whether its training exports ONNX."""

from __future__ import annotations

import json
import re

import pytest

from stacks.config import ConfigError, parse_deployment
from stacks.training_pipeline import training_job_request
from tests.unit.stacks.conftest import build


def model_with(**serving):
    config = parse_deployment({"models": {"circrna": {"preset": "circrna", "serving": serving}}})
    return config.models[0]


def job(model) -> dict:
    return training_job_request(
        model=model,
        base="seqserve-circrna",
        image_uri="image",
        role_arn="arn:aws:iam::123456789012:role/r",
        bucket_name="bucket",
        submit_directory="s3://bucket/source.tar.gz",
        metric_definitions=[],
    )


def test_the_runtime_defaults_to_onnx_where_it_can_serve_and_to_torch_elsewhere():
    artifact = "s3://bucket/models/circrna/model.tar.gz"
    assert model_with().serving.runtime == "onnx"  # CPU, trained by the pipeline, which exports ONNX
    assert model_with(instance_type="ml.g4dn.xlarge").serving.runtime == "torch"
    assert model_with(model_data=artifact).serving.runtime == "torch"  # may hold no checked ONNX export
    serverless = {"mode": "serverless", "model_data": artifact}
    assert model_with(**serverless).serving.runtime == "torch"
    assert model_with(**serverless, runtime="onnx").serving.runtime == "onnx"
    assert model_with(runtime="torch").serving.runtime == "torch"
    assert model_with(model_data=artifact, runtime="onnx").serving.runtime == "onnx"


def test_only_a_model_served_with_onnx_exports_it_at_training():
    assert job(model_with(runtime="onnx"))["Environment"] == {"SEQSERVE_EXPORT_FORMAT": "onnx"}
    assert "Environment" not in job(model_with(runtime="torch"))
    assert job(model_with())["Environment"] == {"SEQSERVE_EXPORT_FORMAT": "onnx"}


@pytest.mark.parametrize(
    ("serving", "message"),
    [
        (
            {"runtime": "tensorrt"},
            "models.circrna.serving.runtime: 'tensorrt' is not allowed; allowed values: torch, onnx",
        ),
        (
            {"runtime": "onnx", "instance_type": "ml.g4dn.xlarge"},
            "models.circrna.serving.runtime: 'onnx' serves on CPU only (the cpu-onnx image)",
        ),
    ],
)
def test_a_bad_runtime_names_the_key_and_what_is_allowed(serving, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        model_with(**serving)


@pytest.mark.slow
def test_an_onnx_model_is_served_from_the_cpu_onnx_image_and_trained_to_export(tmp_path):
    context = {
        "prefix": "onnxapp",
        "models": {"circrna": {"preset": "circrna", "serving": {"runtime": "onnx"}}},
    }
    built = build(context, tmp_path)
    assets = json.loads((built.outdir / "onnxapp-service.assets.json").read_text())["dockerImages"]
    (image_hash, image), *others = assets.items()
    assert others == [] and image["source"]["dockerBuildArgs"] == {"VARIANT": "cpu-onnx"}
    # The training pipeline creates the model (on_demand, no model_data): its definition names the image.
    template = json.dumps(built.service.to_json())
    assert f":cpu-onnx-{image_hash}" in template and ":cpu-" + image_hash not in template
    assert '\\"SEQSERVE_EXPORT_FORMAT\\":\\"onnx\\"' in template
