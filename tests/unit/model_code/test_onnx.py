"""ONNX export and serving with ONNX Runtime: parity with torch, batch independence, serving without torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from model_code import inference
from model_code.data.synthetic import write_dataset
from model_code.export import onnx_export
from model_code.export.onnx_export import OnnxExportError, export_model, export_onnx, failing_operator
from model_code.presets import PRESETS
from model_code.serving.onnx_predictor import (
    ONNX_FILE,
    OnnxPredictor,
    load_onnx_predictor,
    onnx_unusable_reason,
)
from model_code.serving.payload import Request
from model_code.serving.predictor import Predictor, load_predictor
from model_code.serving.scoring import ModelDirError, serving_runtime
from model_code.serving.validation import Limits
from tests.trained_models import score_spread, train_briefly
from tests.unit.model_code.test_inference import MIXED_LENGTHS, write_model_dir
from tests.unit.model_code.test_server import free_port

REPO = Path(__file__).resolve().parents[3]
TOLERANCE = 1e-4
LIMITS = Limits(max_inputs=64, max_chars=20_000, micro_batch=32)
# What each preset's requests look like, of mixed lengths (some past the preset's window).
REQUESTS = {
    "circrna": list(MIXED_LENGTHS),
    "protein-localization": [
        "MKTAYIAKQRQISFVKSHFSRQ",
        "MKV",
        "MLSRAVCGTSRQLAPVLGYLGSRQKHSLPD" * 40,
        "MKUZOBX",
    ],
    "aptamer-pairs": [("ACGTTGCA", "GGATCC"), ("ACGT" * 80, "TTTT"), ("GATTACA", "ACGTACGTTTGACA")],
    "entailment": [
        ("a man is playing guitar", "a person plays music"),
        ("the dog is sleeping", "the dog is running outside in the park" * 20),
        ("a child", "no"),
    ],
    "medical-specialty": ["patient history of chest pain", "normal exam " * 300, "acute"],
}
BACKBONES = {"circrna": None} | {name: PRESETS[name].model for name in PRESETS if name != "circrna"}
# Makes ``import torch`` and ``import transformers`` fail in a subprocess, as in the cpu-onnx image, which
# has neither: with None in sys.modules, importlib.util.find_spec answers None and any import raises.
NO_TORCH = "import sys\nsys.modules['torch'] = None\nsys.modules['transformers'] = None\n"


def request(items) -> Request:
    names = tuple(f"inputs[{index}]" for index in range(len(items)))
    return Request(inputs=tuple(items), names=names, top_k=None, content_type="application/json")


def scores(predictor, items) -> np.ndarray:
    return np.array(predictor.predict(request(items)).scores)


def no_torch_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    blocker = tmp_path / "no-torch"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(NO_TORCH)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEQSERVE_", "SAGEMAKER_"))}
    return {**env, "PYTHONPATH": f"{blocker}{os.pathsep}{REPO}", **extra}


class Exported(dict):
    """Each preset's tiny model dir, exported to ONNX the first time a test asks for it."""

    def __init__(self, root: Path, tiny_backbone) -> None:
        super().__init__()
        self.root, self.tiny_backbone = root, tiny_backbone

    def __missing__(self, name: str) -> Path:
        backbone = BACKBONES[name]
        directory = write_model_dir(
            self.root / name, preset_name=name, backbone=self.tiny_backbone(backbone) if backbone else None
        )
        train_briefly(directory)
        export_onnx(directory)
        self[name] = directory
        return directory


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_backbone) -> Exported:
    return Exported(tmp_path_factory.mktemp("onnx"), tiny_backbone)


@pytest.fixture(scope="module")
def trained_circrna(tmp_path_factory) -> Path:
    """A circrna model trained briefly at the preset's size, as a training job with serving.runtime onnx
    trains it: SEQSERVE_EXPORT_FORMAT=onnx makes training export and check the ONNX model."""
    root = tmp_path_factory.mktemp("trained-circrna")
    write_dataset("circrna", root / "train", n_per_class=48, seed=11, length_range=(150, 600))
    model_dir = root / "model"
    argv = ["--preset", "circrna", "--train", root / "train", "--model-dir", model_dir, "--epochs", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "model_code.train", *map(str, argv)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "SEQSERVE_EXPORT_FORMAT": "onnx"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(BACKBONES))
def test_every_preset_exports_with_dynamic_axes_and_matches_torch(exported, preset):
    model_dir = exported[preset]
    assert (model_dir / ONNX_FILE).is_file() and any(model_dir.glob("*.safetensors"))
    record = json.loads((model_dir / "seqserve.json").read_text())["onnx"]
    assert record["parity"]["passed"] is True and record["parity"]["tolerance"] == TOLERANCE
    onnx_predictor = load_onnx_predictor(model_dir, limits=LIMITS)
    for graph_input in onnx_predictor.session.get_inputs():
        assert isinstance(graph_input.shape[0], str), f"{graph_input.name}: the batch axis is fixed"
        if graph_input.name not in ("composition", "statistics"):
            assert isinstance(graph_input.shape[1], str), f"{graph_input.name}: the sequence axis is fixed"
    if preset == "circrna":
        assert set(record["inputs"]) == {
            "input_ids",
            "attention_mask",
            "token_type_ids",
            "composition",
            "statistics",
        }
    torch_predictor = load_predictor(model_dir, limits=LIMITS)
    items = REQUESTS[preset]
    together = scores(onnx_predictor, items)
    np.testing.assert_allclose(together, scores(torch_predictor, items), atol=TOLERANCE, rtol=0)
    alone = np.concatenate([scores(onnx_predictor, [item]) for item in items])
    np.testing.assert_allclose(alone, together, atol=TOLERANCE, rtol=0)
    # A neighbour must not move an input's scores either: the first input beside each other one.
    for other in items[1:]:
        np.testing.assert_allclose(scores(onnx_predictor, [items[0], other])[0], alone[0], atol=TOLERANCE)
    # The scores differ between inputs by three orders of magnitude more than the tolerance, so agreeing
    # with torch means something: a broken graph cannot hide inside near-constant scores.
    assert score_spread(together) > 1000 * TOLERANCE


@pytest.mark.slow
def test_the_onnx_graph_reads_the_whole_molecule_statistics_as_torch_does(exported):
    # Same 200 nt at each end (the windows), different middles: only the composition and the
    # reading-frame statistics tell these apart, so different scores mean the graph reads them.
    model_dir = exported["circrna"]
    ends = "ACGGTTCAGCTAGCATCGATCGGCTAAGCTTAGGCATCGA" * 5
    middles = ["ATGGCC" * 300, "TAGTAA" * 300, "GC" * 10, "ATGAAACCCGGGTTT" * 40]
    items = [ends + middle + ends for middle in middles]
    onnx_scores = scores(load_onnx_predictor(model_dir, limits=LIMITS), items)
    np.testing.assert_allclose(
        onnx_scores, scores(load_predictor(model_dir, limits=LIMITS), items), atol=TOLERANCE, rtol=0
    )
    assert np.ptp(onnx_scores[:, 0]) > 1e-3


@pytest.mark.slow
def test_a_trained_circrna_model_is_exported_by_training_and_matches_torch(trained_circrna):
    record = json.loads((trained_circrna / "seqserve.json").read_text())["onnx"]
    assert record["parity"]["passed"] is True and (trained_circrna / ONNX_FILE).is_file()
    items = list(MIXED_LENGTHS) * 5  # 40 inputs: two micro-batches
    onnx_scores = scores(load_onnx_predictor(trained_circrna, limits=LIMITS), items)
    np.testing.assert_allclose(
        onnx_scores, scores(load_predictor(trained_circrna, limits=LIMITS), items), atol=TOLERANCE
    )
    assert np.ptp(onnx_scores[:, 0]) > 1e-3


HANDLERS_WITHOUT_TORCH = """
import json, sys
for name in ("torch", "transformers"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} imported")
from model_code import inference
model = inference.model_fn(sys.argv[1])
body = json.dumps({"inputs": json.loads(sys.argv[2]), "parameters": {"top_k": 2}})
request = inference.input_fn(body, "application/json")
payload, _ = inference.output_fn(inference.predict_fn(request, model), None)
heavy = ("torch", "transformers")
loaded = sorted(name for name, module in sys.modules.items() if name.split(".")[0] in heavy and module)
print(json.dumps({"predictor": type(model).__name__, "answer": json.loads(payload), "heavy_modules": loaded}))
"""


@pytest.mark.slow
def test_the_handlers_serve_the_onnx_model_where_torch_and_transformers_cannot_be_imported(
    trained_circrna, tmp_path
):
    items = list(MIXED_LENGTHS)
    result = subprocess.run(
        [sys.executable, "-c", HANDLERS_WITHOUT_TORCH, str(trained_circrna), json.dumps(items)],
        env=no_torch_environment(tmp_path, SEQSERVE_IMAGE_VARIANT="cpu-onnx"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["predictor"] == "OnnxPredictor" and answer["heavy_modules"] == []
    expected = load_predictor(trained_circrna, limits=LIMITS).predict(request(items))
    for entry, row in zip(answer["answer"], expected.scores, strict=True):
        by_label = {item["label"]: item["score"] for item in entry}
        for label, score in zip(expected.labels, row, strict=True):
            assert by_label[label] == pytest.approx(score, abs=TOLERANCE)


@pytest.mark.slow
def test_the_byoc_server_serves_the_onnx_model_where_torch_and_transformers_cannot_be_imported(
    trained_circrna, tmp_path
):
    port = free_port()
    env = no_torch_environment(
        tmp_path,
        SEQSERVE_MODEL_DIR=str(trained_circrna),
        SAGEMAKER_BIND_TO_PORT=str(port),
        SAGEMAKER_MODEL_SERVER_WORKERS="1",
        SEQSERVE_IMAGE_VARIANT="cpu-onnx",
    )
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "model_code" / "serve"), "--host", "127.0.0.1"],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        items = list(MIXED_LENGTHS[:4])
        response = httpx.post(f"{url}/invocations", json={"inputs": items}, timeout=60)
        assert response.status_code == 200, response.text
        expected = load_predictor(trained_circrna, limits=LIMITS).predict(request(items))
        for entry, row in zip(response.json(), expected.scores, strict=True):
            best = max(range(len(row)), key=row.__getitem__)
            assert entry["label"] == expected.labels[best]
            assert entry["score"] == pytest.approx(row[best], abs=TOLERANCE)
        refused = httpx.post(f"{url}/invocations", json={"inputs": "ACGZ"}, timeout=60)
        assert refused.status_code == 400 and "ACGZ" not in refused.json()["error"]["code"]
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "Traceback" not in log.read_text()


@pytest.mark.slow
def test_an_onnx_image_refuses_a_model_without_a_passing_export_naming_why(exported, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(exported["entailment"], model_dir)
    settings = json.loads((model_dir / "seqserve.json").read_text())
    settings["onnx"]["parity"]["passed"] = False
    (model_dir / "seqserve.json").write_text(json.dumps(settings))
    script = "import sys\nfrom model_code import inference\ninference.model_fn(sys.argv[1])\n"
    result = subprocess.run(
        [sys.executable, "-c", script, str(model_dir)],
        env=no_torch_environment(tmp_path, SEQSERVE_RUNTIME="onnx"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "ModelDirError" in result.stderr and "did not pass the parity check" in result.stderr
    assert "serving.runtime torch" in result.stderr


@pytest.mark.slow
def test_the_torch_path_serves_until_an_export_passes_its_parity_check(exported, tmp_path, monkeypatch):
    model_dir = tmp_path / "model"
    shutil.copytree(exported["entailment"], model_dir)
    monkeypatch.setenv("SEQSERVE_RUNTIME", "onnx")
    assert isinstance(inference.model_fn(str(model_dir)), OnnxPredictor)
    settings = json.loads((model_dir / "seqserve.json").read_text())
    settings["onnx"]["parity"] = {**settings["onnx"]["parity"], "passed": False}
    (model_dir / "seqserve.json").write_text(json.dumps(settings))
    assert "did not pass the parity check" in onnx_unusable_reason(model_dir)
    assert isinstance(inference.model_fn(str(model_dir)), Predictor)
    del settings["onnx"]
    (model_dir / "seqserve.json").write_text(json.dumps(settings))
    assert "has no ONNX export" in onnx_unusable_reason(model_dir)
    assert isinstance(inference.model_fn(str(model_dir)), Predictor)
    monkeypatch.setenv("SEQSERVE_RUNTIME", "torch")
    assert isinstance(inference.model_fn(str(exported["entailment"])), Predictor)


class Bessel(torch.nn.Module):
    """A head whose operator (aten::i0) has no ONNX translation."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, hidden):
        return torch.special.i0(self.inner(hidden))


@pytest.mark.slow
def test_an_export_failure_names_the_preset_and_operator_and_keeps_torch(exported, tmp_path, monkeypatch):
    model_dir = tmp_path / "model"
    shutil.copytree(exported["entailment"], model_dir)
    (model_dir / ONNX_FILE).unlink()
    real_load = onnx_export.load_predictor

    def load_broken(*args, **kwargs):
        predictor = real_load(*args, **kwargs)
        predictor.model.classifier = Bessel(predictor.model.classifier)
        return predictor

    monkeypatch.setattr(onnx_export, "load_predictor", load_broken)
    with pytest.raises(
        OnnxExportError, match=r"preset 'entailment': ONNX export failed at operator aten::i0"
    ):
        export_onnx(model_dir)
    assert not (model_dir / ONNX_FILE).exists() and not list(model_dir.glob("*.partial"))
    record = json.loads((model_dir / "seqserve.json").read_text())["onnx"]
    assert "aten::i0" in record["error"] and record["file"] is None
    assert "export failed" in onnx_unusable_reason(model_dir)
    monkeypatch.setenv("SEQSERVE_RUNTIME", "onnx")
    assert isinstance(inference.model_fn(str(model_dir)), Predictor)


def test_the_failing_operator_is_found_in_the_error_or_its_causes():
    cause = RuntimeError("Exporting the operator 'aten::cummax' to ONNX opset version 17 is not supported")
    try:
        raise ValueError("export failed") from cause
    except ValueError as error:
        assert failing_operator(error) == "aten::cummax"
    assert failing_operator(RuntimeError("no translation for aten.lgamma.default")) == "aten.lgamma"
    assert failing_operator(RuntimeError("out of memory")) is None


@pytest.mark.slow
def test_export_model_refuses_a_broken_model_without_writing_a_file(exported, tmp_path):
    predictor = load_predictor(exported["medical-specialty"], limits=LIMITS)
    predictor.model.classifier = Bessel(predictor.model.classifier)
    with pytest.raises(OnnxExportError, match=r"preset 'medical-specialty'.*aten::i0"):
        export_model(predictor, preset_name="medical-specialty", path=tmp_path / ONNX_FILE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_package_format_onnx_exports_checks_and_archives_the_onnx_model(tiny_backbone, tmp_path):
    model_dir = write_model_dir(
        tmp_path / "model", preset_name="aptamer-pairs", backbone=tiny_backbone("albert-base-v2")
    )
    output = tmp_path / "model.tar.gz"
    command = [
        sys.executable,
        "-m",
        "model_code.package",
        "--model-dir",
        str(model_dir),
        "--output",
        str(output),
    ]
    result = subprocess.run(
        [*command, "--format", "onnx"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    with tarfile.open(output) as archive:
        names = set(archive.getnames())
        settings = json.load(archive.extractfile("seqserve.json"))
    assert {ONNX_FILE, "model.safetensors", "code/serving/onnx_predictor.py", "code/inference.py"} <= names
    assert settings["onnx"]["parity"]["passed"] is True


def test_package_format_onnx_names_a_bad_model_dir(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "model_code.package", "--model-dir", str(tmp_path), "--output",
         str(tmp_path.parent / "x.tar.gz"), "--format", "onnx"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert "seqserve.json is missing" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("environ", "runtime"),
    [
        ({}, "torch"),
        ({"SEQSERVE_IMAGE_VARIANT": "cpu"}, "torch"),
        ({"SEQSERVE_IMAGE_VARIANT": "cpu-onnx"}, "onnx"),
        ({"SEQSERVE_IMAGE_VARIANT": "cpu-onnx", "SEQSERVE_RUNTIME": "torch"}, "torch"),
        ({"SEQSERVE_RUNTIME": "onnx"}, "onnx"),
    ],
)
def test_the_runtime_comes_from_the_image_variant_unless_set(environ, runtime):
    assert serving_runtime(environ) == runtime


def test_a_bad_runtime_setting_is_named():
    with pytest.raises(ValueError, match="SEQSERVE_RUNTIME must be one of torch, onnx, got 'tensorrt'"):
        serving_runtime({"SEQSERVE_RUNTIME": "tensorrt"})


def test_loading_an_onnx_model_that_is_not_there_names_the_file(tmp_path):
    model_dir = write_model_dir(tmp_path / "model", preset_name="circrna")
    with pytest.raises(ModelDirError, match=r"model\.onnx is missing"):
        load_onnx_predictor(model_dir, limits=LIMITS)


def dockerfile_install_script() -> str:
    """The Dockerfile's RUN instructions that pick and install packages, as one sh script."""
    text = (REPO / "model_code" / "Dockerfile").read_text().replace("\\\n", " ")
    return "\n".join(line[4:] for line in text.splitlines() if line.startswith("RUN case"))


@pytest.mark.parametrize(
    ("variant", "installs"),
    [
        ("cpu-onnx", ["-r /opt/program/model_code/requirements-serving-onnx.txt"]),
        (
            "cpu",
            [
                "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0",
                "-r /opt/program/model_code/requirements-serving.txt",
            ],
        ),
    ],
)
def test_the_dockerfile_installs_onnx_runtime_without_torch_only_in_the_cpu_onnx_variant(
    variant, installs, tmp_path
):
    """Runs the Dockerfile's install steps with a pip that records its arguments."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pip").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/pip.log\n')
    (fake / "pip").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "VARIANT": variant, "TORCH_VERSION": "2.13.0",
           "TORCH_CPU_INDEX": "https://download.pytorch.org/whl/cpu"}  # fmt: skip
    subprocess.run(["sh", "-ec", dockerfile_install_script()], env=env, check=True)
    assert (tmp_path / "pip.log").read_text().splitlines() == [f"install {args}" for args in installs]
    dockerfile = (REPO / "model_code" / "Dockerfile").read_text()
    assert "ENV SEQSERVE_IMAGE_VARIANT=$VARIANT" in dockerfile


def test_an_unknown_variant_fails_the_build_naming_the_choices(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "VARIANT": "tpu", "TORCH_VERSION": "2.13.0", "TORCH_CPU_INDEX": "x"}
    result = subprocess.run(
        ["sh", "-ec", dockerfile_install_script()], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "VARIANT must be cpu, gpu or cpu-onnx, got 'tpu'" in result.stderr


def pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return dict(line.split("==") for line in lines if "==" in line)


def test_the_onnx_serving_requirements_hold_no_torch_and_agree_with_the_project_pins():
    onnx = pins(REPO / "model_code" / "requirements-serving-onnx.txt")
    project = pins(REPO / "requirements.txt")
    assert "onnxruntime" in onnx and "tokenizers" in onnx
    assert not any(name.startswith(("torch", "nvidia", "transformers")) for name in onnx)
    assert {name: version for name, version in onnx.items() if project.get(name) != version} == {}


SERVE_FROM_TARGET = """
import json, sys
from model_code import inference
model = inference.model_fn(sys.argv[1])
request = inference.input_fn(json.dumps({"inputs": json.loads(sys.argv[2])}), "application/json")
payload, _ = inference.output_fn(inference.predict_fn(request, model), None)
print(json.dumps({"predictor": type(model).__name__, "answer": json.loads(payload),
                  "onnxruntime": sys.modules["onnxruntime"].__file__}))
"""


@pytest.mark.slow
def test_the_onnx_serving_requirements_install_into_a_folder_that_serves_alone(exported, tmp_path):
    """What the cpu-onnx image installs, and nothing else (python -S: no site-packages), serves the model."""
    target = tmp_path / "site"
    requirements = REPO / "model_code" / "requirements-serving-onnx.txt"
    install = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    subprocess.run(install, check=True, timeout=900)
    assert not (target / "torch").exists()
    items = REQUESTS["entailment"]
    pairs = [{"text": text, "text_pair": text_pair} for text, text_pair in items]
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{target}{os.pathsep}{REPO}",
        "SEQSERVE_RUNTIME": "onnx",
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", SERVE_FROM_TARGET, str(exported["entailment"]), json.dumps(pairs)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["predictor"] == "OnnxPredictor" and answer["onnxruntime"].startswith(str(target))
    expected = load_predictor(exported["entailment"], limits=LIMITS).predict(request(items))
    for entry, row in zip(answer["answer"], expected.scores, strict=True):
        assert entry["score"] == pytest.approx(max(row), abs=TOLERANCE)


@pytest.mark.slow
def test_the_onnx_path_takes_max_length_from_the_tokenizer_when_seqserve_json_has_none(exported, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(exported["circrna"], model_dir)
    settings = json.loads((model_dir / "seqserve.json").read_text())
    without = {key: value for key, value in settings.items() if key != "max_length"}
    (model_dir / "seqserve.json").write_text(json.dumps(without))
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert load_onnx_predictor(model_dir, limits=LIMITS).max_length == tokenizer_config["model_max_length"]
    (model_dir / "seqserve.json").write_text(json.dumps({**settings, "max_length": "long"}))
    with pytest.raises(ModelDirError, match=r"max_length must be a positive integer, got 'long'"):
        load_onnx_predictor(model_dir, limits=LIMITS)
