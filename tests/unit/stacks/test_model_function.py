"""The Lambda-hosted model's function (stacks/model_function.py): which models get one, its asset under
Lambda's 250 MB, its memory and /tmp from the artifact's size, its role, and the invoker's grant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.config import ConfigError, parse_deployment
from stacks.lambda_environment import lambda_served
from stacks.lambda_sizing import MAX_MODEL_MB, lambda_size, model_mb
from stacks.model_server_asset import HANDLER, UNZIPPED_LIMIT_BYTES, unzipped_bytes
from tests.unit.stacks.conftest import build
from tests.unit.stacks.template_text import logical_id_of, text

SIZED = {
    "prefix": "sized",
    "models": {
        "circrna": {"preset": "circrna"},
        "notes": {"preset": "medical-specialty"},
        "texts": {"preset": "entailment"},
        "pairs": {
            "preset": "aptamer-pairs",
            "serving": {"lambda_memory_mb": 4096, "lambda_storage_mb": 2048},
        },
        "proteins": {"preset": "protein-localization"},
        "torchy": {"preset": "circrna", "serving": {"runtime": "torch"}},
    },
}


@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    return build(SIZED, tmp_path_factory.mktemp("sized"))


def model_functions(built) -> dict[str, dict]:
    found = built.service.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}})
    return {props["Properties"]["Environment"]["Variables"]["MODEL_NAME"]: props for props in found.values()}


def models_variable(built) -> dict:
    invoker = built.service.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "invoker.handler.handler"}}
    )
    (props,) = invoker.values()
    return json.loads(text(props["Properties"]["Environment"]["Variables"]["MODELS"]))


def test_only_cpu_onnx_on_demand_models_small_enough_get_a_function(sized):
    # proteins: ProtBert's ~1.6 GB model.onnx is over MAX_MODEL_MB; torchy: torch runtime; both keep
    # today's behaviour (503 while waking).
    functions = model_functions(sized)
    assert sorted(functions) == ["circrna", "notes", "pairs", "texts"]
    models = models_variable(sized)
    template = sized.service.to_json()
    for name in functions:
        logical_id = logical_id_of(template, "AWS::Lambda::Function", f"Model-{name}/LambdaServing")
        assert models[name]["serving_function"] == "${" + logical_id + "}"
    assert "serving_function" not in models["proteins"] and "serving_function" not in models["torchy"]


def test_memory_and_storage_follow_the_artifact_size_unless_configured(sized):
    functions = model_functions(sized)
    config = {m.name: m for m in parse_deployment(SIZED).models}
    for name in ("circrna", "notes", "texts"):
        size = lambda_size(config[name])
        props = functions[name]["Properties"]
        assert props["MemorySize"] == size.memory_mb and props["EphemeralStorage"] == {
            "Size": size.storage_mb
        }
    # entailment's BERT-base (~418 MB model.onnx) needs more memory than the tiny k-mer model.
    assert functions["texts"]["Properties"]["MemorySize"] > functions["circrna"]["Properties"]["MemorySize"]
    for name, preset in (("notes", "medical-specialty"), ("texts", "entailment")):
        assert functions[name]["Properties"]["EphemeralStorage"]["Size"] >= model_mb(preset) + 64
    assert functions["pairs"]["Properties"]["MemorySize"] == 4096
    assert functions["pairs"]["Properties"]["EphemeralStorage"] == {"Size": 2048}


def test_sizes_grow_with_the_model_and_stay_in_lambdas_limits():
    config = {m.name: m for m in parse_deployment(SIZED).models}
    small, large = lambda_size(config["circrna"]), lambda_size(config["texts"])
    # One full vCPU at least, and Lambda's smallest /tmp.
    assert small.memory_mb == 1769 and small.storage_mb == 512
    assert large.memory_mb > small.memory_mb
    assert large.memory_mb >= 512 + 3 * large.model_mb and large.storage_mb >= large.model_mb
    assert (
        not lambda_size(config["proteins"]).fits and lambda_size(config["proteins"]).model_mb > MAX_MODEL_MB
    )
    assert not lambda_served(config["proteins"]) and not lambda_served(config["torchy"])


@pytest.mark.parametrize(
    ("serving", "message"),
    [
        ({"lambda_memory_mb": 64}, "models.m.serving.lambda_memory_mb: must be from 128 to 10240"),
        ({"lambda_memory_mb": "big"}, "models.m.serving.lambda_memory_mb: expected an integer"),
        ({"lambda_storage_mb": 20000}, "models.m.serving.lambda_storage_mb: must be from 512 to 10240"),
        ({"lambda_storage_mb": True}, "models.m.serving.lambda_storage_mb: expected an integer"),
    ],
)
def test_bad_lambda_sizes_are_refused_naming_the_key(serving, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_deployment({"models": {"m": {"preset": "circrna", "serving": serving}}})


def test_the_function_runs_on_arm64_python_312_within_the_invokers_budget(sized):
    for props in model_functions(sized).values():
        props = props["Properties"]
        assert props["Runtime"] == "python3.12" and props["Architectures"] == ["arm64"]
        assert props["Timeout"] <= 25 and "Layers" not in props


def statements(built, role_logical_id: str) -> list[dict]:
    # A long policy overflows into managed policies attached to the same role.
    policies = {
        **built.service.find_resources("AWS::IAM::Policy"),
        **built.service.find_resources("AWS::IAM::ManagedPolicy"),
    }
    found = []
    for policy in policies.values():
        roles = policy["Properties"].get("Roles", [])
        if {"Ref": role_logical_id} in roles:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_the_role_reads_only_the_models_artifact_and_where_it_is_recorded(sized):
    props = model_functions(sized)["notes"]["Properties"]
    role = props["Role"]["Fn::GetAtt"][0]
    granted = statements(sized, role)
    actions = {a for s in granted for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "dynamodb:GetItem" in actions and not {"dynamodb:UpdateItem", "dynamodb:PutItem"} & actions
    assert {"sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"} <= actions
    assert not any(a.startswith("s3:Put") or a.startswith("s3:Delete") for a in actions)
    text = json.dumps(granted)
    assert "artifacts/notes/*" in text and "artifacts/circrna/*" not in text
    assert "sagemaker:InvokeEndpoint" not in actions and "sagemaker:CreateEndpoint" not in actions


def test_the_invoker_may_invoke_each_models_function(sized):
    invoker = sized.service.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "invoker.handler.handler"}}
    )
    (props,) = invoker.values()
    granted = json.dumps(statements(sized, props["Properties"]["Role"]["Fn::GetAtt"][0]))
    assert granted.count("lambda:InvokeFunction") >= 1
    for logical_id in (
        k
        for k, v in sized.service.find_resources("AWS::Lambda::Function").items()
        if v["Properties"]["Handler"] == HANDLER
    ):
        assert logical_id in granted


def test_the_synthesized_asset_stays_under_lambdas_unzipped_limit(sized):
    props = next(iter(model_functions(sized).values()))["Properties"]
    asset_hash = (
        props["Code"]["S3Key"]["Fn::Sub"]
        if isinstance(props["Code"]["S3Key"], dict)
        else props["Code"]["S3Key"]
    )
    folder = Path(sized.outdir) / f"asset.{asset_hash.split('.')[0]}"
    assert folder.is_dir(), sorted(p.name for p in Path(sized.outdir).iterdir())
    size = unzipped_bytes(folder)
    assert size < UNZIPPED_LIMIT_BYTES, f"{size / 2**20:.1f} MB"
    # What the function imports is there, built for arm64 Linux, and what it must not carry is not.
    assert (folder / "model_server" / "handler.py").is_file() and (
        folder / "model_code" / "inference.py"
    ).is_file()
    assert list((folder / "onnxruntime" / "capi").glob("onnxruntime_pybind11_state*aarch64*.so"))
    for absent in ("torch", "transformers", "uvicorn", "starlette", "aws_lambda_powertools"):
        assert not (folder / absent).exists(), absent


def test_the_functions_packages_are_the_onnx_images_without_its_http_server():
    from stacks.model_server_asset import SERVING_REQUIREMENTS
    from stacks.powertools_layer import ROOT, layer_pins

    image = layer_pins(ROOT / "model_code" / "requirements-serving-onnx.txt")
    assert layer_pins(SERVING_REQUIREMENTS) == {
        k: v for k, v in image.items() if k not in ("uvicorn", "starlette")
    }
