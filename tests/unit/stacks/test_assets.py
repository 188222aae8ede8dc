"""Assets: the serving image is built by cdk deploy (never by synth), the training code is a file asset."""

from __future__ import annotations

import json
import tarfile

from tests.unit.stacks.template_text import logical_id_of, text


def manifest(built) -> dict:
    return json.loads((built.outdir / "seqserve-service.assets.json").read_text())


def test_serving_images_are_docker_assets_of_model_code_per_processor(full):
    images = manifest(full)["dockerImages"]
    sources = {image["source"]["dockerBuildArgs"]["VARIANT"]: image["source"] for image in images.values()}
    assert set(sources) == {"cpu", "gpu"}
    for source in sources.values():
        assert source["platform"] == "linux/amd64"
        staged = full.outdir / source["directory"]
        assert (staged / "Dockerfile").is_file() and (staged / "server.py").is_file()
        assert not list(staged.rglob("__pycache__"))


def test_gpu_serving_instances_get_the_gpu_image(full):
    images = manifest(full)["dockerImages"]
    gpu_hash = next(h for h, i in images.items() if i["source"]["dockerBuildArgs"]["VARIANT"] == "gpu")
    template = full.service.to_json()
    aptamers = template["Resources"][logical_id_of(template, "AWS::SageMaker::Model", "Model-aptamers")]
    proteins = template["Resources"][logical_id_of(template, "AWS::SageMaker::Model", "Model-proteins")]
    assert text(aptamers["Properties"]["PrimaryContainer"]["Image"]).endswith(f":{gpu_hash}")
    assert not text(proteins["Properties"]["PrimaryContainer"]["Image"]).endswith(f":{gpu_hash}")


def test_training_source_is_one_gzipped_tar_file_asset(full):
    files = manifest(full)["files"]
    bundles = [
        f
        for f in files.values()
        if f["source"]["packaging"] == "file" and f["source"]["path"].endswith(".gz")
    ]
    assert len(bundles) == 1
    with tarfile.open(full.outdir / bundles[0]["source"]["path"], mode="r:gz") as tar:
        assert "train.py" in tar.getnames()
