"""Assets: the serving image is built by cdk deploy (never by synth), the training code is a file asset."""

from __future__ import annotations

import json
import tarfile

from tests.unit.stacks.template_text import actions_on, logical_id_of, statements, text


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


def image_copies(built) -> dict[str, dict]:
    return {
        next(p for p in r["Metadata"]["aws:cdk:path"].split("/") if p.startswith("Copy-")): r["Properties"]
        for r in built.service.find_resources("Custom::CDKECRDeployment").values()
    }


def test_each_image_is_copied_into_the_seqserve_repository_under_its_hash(full):
    images = manifest(full)["dockerImages"]
    copies = image_copies(full)
    assert set(copies) == {"Copy-cpu", "Copy-gpu"}
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
