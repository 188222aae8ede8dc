"""Assets: the serving image is built by cdk deploy (never by synth), the training code is a file asset."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr

from stacks.serving_image import ServingImages
from tests.unit.stacks.template_text import actions_on, logical_id_of, statements, text

MODEL_CODE = Path(__file__).resolve().parents[3] / "model_code"


def manifest(built) -> dict:
    return json.loads((built.outdir / "seqserve-service.assets.json").read_text())


def test_serving_images_are_docker_assets_of_model_code_per_processor(full):
    images = manifest(full)["dockerImages"]
    sources = {image["source"]["dockerBuildArgs"]["VARIANT"]: image["source"] for image in images.values()}
    # circrna trains on the pipeline with a CPU instance (ONNX by default); aptamers and proteins serve
    # model_data artifacts (torch by default), on a GPU and serverless.
    assert set(sources) == {"cpu", "cpu-onnx", "gpu"}
    for source in sources.values():
        assert source["platform"] == "linux/amd64"
        staged = full.outdir / source["directory"]
        assert (staged / "Dockerfile").is_file() and (staged / "serving" / "server.py").is_file()
        assert (staged / "serving" / "predictor.py").is_file() and (
            staged / "requirements-serving.txt"
        ).is_file()
        assert (staged / "tokenization" / "serving.py").is_file() and (
            staged / "modeling" / "kmer.py"
        ).is_file()
        # Training code never goes into the serving image.
        assert not (staged / "train.py").exists() and not list(staged.glob("data/*.py"))
        assert not list(staged.glob("training/*.py")) and not list(staged.glob("export/*.py"))
        assert not (staged / "modeling" / "factory.py").exists()
        assert not list(staged.rglob("__pycache__"))


def test_serving_images_are_built_with_docker_media_types(full):
    # SageMaker rejects OCI manifests, which Docker's containerd image store writes by default.
    for image in manifest(full)["dockerImages"].values():
        assert image["source"]["dockerOutputs"] == ["type=image,oci-mediatypes=false"]


def serving_image_hash(model_code: Path, outdir: Path) -> str:
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Images")
    images = ServingImages(
        stack, "ServingImages", model_code=model_code, repository=ecr.Repository(stack, "Repository")
    )
    images.uri("cpu")
    return images.node.find_child("Asset-cpu").asset_hash


def test_only_serving_code_changes_the_image_hash(tmp_path):
    model_code = tmp_path / "model_code"
    shutil.copytree(MODEL_CODE, model_code, ignore=shutil.ignore_patterns("__pycache__"))
    original = serving_image_hash(model_code, tmp_path / "a")
    (model_code / "train.py").write_text((model_code / "train.py").read_text() + "\n# edited\n")
    assert serving_image_hash(model_code, tmp_path / "b") == original
    (model_code / "serving" / "predictor.py").write_text(
        (model_code / "serving" / "predictor.py").read_text() + "\n# edited\n"
    )
    assert serving_image_hash(model_code, tmp_path / "c") != original


def image_copies(built) -> dict[str, dict]:
    return {
        next(p for p in r["Metadata"]["aws:cdk:path"].split("/") if p.startswith("Copy-")): r["Properties"]
        for r in built.service.find_resources("Custom::CDKECRDeployment").values()
    }


def test_each_image_is_copied_into_the_seqserve_repository_under_its_hash(full):
    images = manifest(full)["dockerImages"]
    copies = image_copies(full)
    assert set(copies) == {"Copy-cpu", "Copy-cpu-onnx", "Copy-gpu"}
    for image_hash, image in images.items():
        variant = image["source"]["dockerBuildArgs"]["VARIANT"]
        copy = copies[f"Copy-{variant}"]
        assert text(copy["SrcImage"]).endswith(
            f"cdk-hnb659fds-container-assets-${{AWS::AccountId}}-${{AWS::Region}}:{image_hash}"
        )
        destination = json.dumps(copy["DestImage"])
        assert "ServingImageRepository" in destination and f":{variant}-{image_hash}" in destination


def test_models_pull_the_copied_image_after_the_copy(full):
    images = manifest(full)["dockerImages"]
    gpu_hash = next(h for h, i in images.items() if i["source"]["dockerBuildArgs"]["VARIANT"] == "gpu")
    template = full.service.to_json()
    aptamers = template["Resources"][logical_id_of(template, "AWS::SageMaker::Model", "Model-aptamers")]
    proteins = template["Resources"][logical_id_of(template, "AWS::SageMaker::Model", "Model-proteins")]
    assert json.dumps(aptamers["Properties"]["PrimaryContainer"]["Image"]).endswith(f':gpu-{gpu_hash}"]]}}')
    assert "ServingImageRepository" in json.dumps(aptamers["Properties"]["PrimaryContainer"]["Image"])
    assert ":cpu-" in json.dumps(proteins["Properties"]["PrimaryContainer"]["Image"])
    gpu_copy = logical_id_of(template, "Custom::CDKECRDeployment", "Copy-gpu")
    assert gpu_copy in aptamers["DependsOn"]


def test_copy_role_pulls_from_cdk_assets_and_pushes_only_to_the_seqserve_repository(full):
    template = full.service.to_json()
    role = logical_id_of(template, "AWS::IAM::Role", "ServingImages/CopyRole")
    allowed = actions_on(statements(template, role))
    assert {r for r in allowed["ecr:putimage"]} == {
        "${Import:seqserve-stateful:ExportsOutputFnGetAttServingImageRepositoryArn17829B7E}"
    }
    assert any("container-assets" in r for r in allowed["ecr:batchgetimage"])
    assert {a for a, resources in allowed.items() if "*" in resources} == {"ecr:getauthorizationtoken"}
    assert not any(a.startswith("s3:") for a in allowed)
    (function,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "CDKECRDeployment" in r["Metadata"]["aws:cdk:path"]
    ]
    assert function["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}


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
