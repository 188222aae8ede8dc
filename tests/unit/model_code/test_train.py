import contextlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.training import run as run_training_benchmark
from model_code.data.labels import apply_labels, balanced_class_weights, label_names
from model_code.data.loading import load_examples
from model_code.data.splits import sequences_of_examples, split_examples, stratified_split
from model_code.data.synthetic import write_dataset
from model_code.evaluate import evaluate_examples
from model_code.modeling.factory import build_model, build_tokenizer
from model_code.presets import SplitGroups, get_preset
from model_code.train import main, mixed_precision_flags, training_arguments, weighted_loss
from model_code.training.hyperparameters import Hyperparameters, UsageError, training_settings
from model_code.training.metrics import METRIC_DEFINITIONS

REPO = Path(__file__).resolve().parents[3]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# A k-mer model small enough to train in seconds on a shared CPU; 64 k-mers from each end keep
# attention cheap and still reach the end motifs the generator plants.
TINY_KMER = [
    "--hidden-size",
    "32",
    "--num-hidden-layers",
    "1",
    "--num-attention-heads",
    "2",
    "--intermediate-size",
    "64",
    "--max-length",
    "131",
]
MODEL_FILES = {
    "config.json",
    "model.safetensors",
    "tokenizer_config.json",
    "labels.json",
    "seqserve.json",
    "evaluation.json",
    "confusion_matrix.png",
    "training_curve.png",
    "code",
}


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(arg) for arg in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def circrna_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("circrna")
    write_dataset("circrna", root / "train", n_per_class=300, seed=1, length_range=(200, 400))
    write_dataset("circrna", root / "test", n_per_class=100, seed=2, length_range=(200, 400))
    model_dir = root / "model"
    data = ["--train", root / "train", "--test", root / "test", "--model-dir", model_dir]
    argv = ["--preset", "circrna", *data, "--epochs", "2", "--batch-size", "16", "--learning-rate", "3e-3"]
    argv += TINY_KMER
    code, out, err = run_main(argv)
    assert code == 0, err[-3000:]
    return model_dir, out


@pytest.mark.slow
def test_circrna_tiny_model_reaches_095_on_held_out_data(circrna_run):
    model_dir, _ = circrna_run
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    assert evaluation["split"] == "test"
    assert evaluation["examples"] == 200
    assert evaluation["accuracy"] >= 0.95
    assert evaluation["roc_auc"] >= 0.95
    assert set(evaluation["per_class"]) == {"circRNA", "lncRNA"}
    assert sum(map(sum, evaluation["confusion_matrix"]["matrix"])) == 200


@pytest.mark.slow
def test_model_dir_holds_the_artifact_files(circrna_run):
    model_dir, _ = circrna_run
    assert {path.name for path in model_dir.iterdir()} >= MODEL_FILES
    settings = json.loads((model_dir / "seqserve.json").read_text())
    assert settings["preset"] == "circrna"
    assert settings["labels"] == ["circRNA", "lncRNA"]
    assert settings["max_length"] == 131
    assert settings["training"]["epochs"] == 2 and settings["training"]["batch_size"] == 16
    assert json.loads((model_dir / "labels.json").read_text()) == ["circRNA", "lncRNA"]
    config = json.loads((model_dir / "config.json").read_text())
    assert config["hidden_size"] == 32 and config["id2label"] == {"0": "circRNA", "1": "lncRNA"}
    assert (model_dir / "code" / "inference.py").is_file() and (
        model_dir / "code" / "requirements.txt"
    ).is_file()
    for png in ("confusion_matrix.png", "training_curve.png"):
        assert (model_dir / png).read_bytes().startswith(PNG_MAGIC)
    # Scratch checkpoints (no checkpoint dir given) are gone once the model is written.
    assert not model_dir.with_name("model.checkpoints").exists()


@pytest.mark.slow
def test_best_epoch_is_restored(circrna_run, tmp_path):
    model_dir, out = circrna_run
    logged = [
        (float(m["epoch"]), float(m["accuracy"]))
        for m in re.finditer(
            r"validation:accuracy=(?P<accuracy>[\d.]+);.* train:epoch=(?P<epoch>[\d.]+);", out
        )
    ]
    assert [epoch for epoch, _ in logged] == [1.0, 2.0]
    # The saved model scores the best logged validation accuracy on the same validation split.
    preset = get_preset("circrna")
    examples = load_examples(preset, model_dir.parent / "train")
    _, validation = stratified_split(examples, validation_fraction=0.1, seed=42)
    accuracy = evaluate_examples(model_dir=model_dir, examples=validation)["accuracy"]
    assert accuracy == pytest.approx(max(value for _, value in logged), abs=1e-5)


@pytest.mark.slow
def test_metric_lines_match_the_sagemaker_definitions(circrna_run):
    _, out = circrna_run
    lines = [line for line in out.splitlines() if line.startswith("seqserve_metric")]
    seen = set()
    for definition in METRIC_DEFINITIONS:
        if any(re.search(definition["Regex"], line) for line in lines):
            seen.add(definition["Name"])
    assert {"train:loss", "validation:accuracy", "validation:roc_auc", "test:accuracy"} <= seen
    test_line = next(line for line in lines if "test:accuracy" in line)
    evaluation = json.loads((circrna_run[0] / "evaluation.json").read_text())
    assert float(re.search(r"test:accuracy=([\d.]+);", test_line)[1]) == pytest.approx(
        evaluation["accuracy"], abs=1e-5
    )


TINY_RUN = ["--max-steps", "2", "--batch-size", "8", "--max-length", "64", "--validation-fraction", "0.3"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "n_per_class", "split"),
    [
        ("protein-localization", 6, "test"),  # DeepLoc's own test marks become the test set
        # Without test data, a test split is held out of training and validation.
        ("aptamer-pairs", 8, "held_out_test"),
        ("entailment", 6, "held_out_test"),
        ("medical-specialty", 50, "held_out_test"),
    ],
)
def test_every_other_preset_trains_with_a_tiny_backbone(tmp_path, tiny_backbone, preset, n_per_class, split):
    backbone = tiny_backbone(get_preset(preset).model)
    write_dataset(preset, tmp_path / "train", n_per_class=n_per_class, seed=3, length_range=(10, 30))
    model_dir = tmp_path / "model"
    code, _, err = run_main(
        [
            "--preset",
            preset,
            "--train",
            tmp_path / "train",
            "--model-dir",
            model_dir,
            "--backbone",
            backbone,
            *TINY_RUN,
        ]
    )
    assert code == 0, err[-3000:]
    assert {path.name for path in model_dir.iterdir()} >= MODEL_FILES
    settings = json.loads((model_dir / "seqserve.json").read_text())
    assert settings["pair"] is get_preset(preset).pair
    assert settings["backbone"] == str(backbone)
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    assert evaluation["split"] == split
    assert evaluation["confusion_matrix"]["labels"] == settings["labels"]
    config = json.loads((model_dir / "config.json").read_text())
    if get_preset(preset).class_weighting:
        # The weights come from the training split's labels (same loader, split and seed as train.py).
        spec = get_preset(preset)
        examples = load_examples(spec, tmp_path / "train")
        labels = label_names(spec, examples)
        train = split_examples(
            apply_labels(spec, examples, labels), validation_fraction=0.3, test_fraction=0.1, seed=42
        ).train
        assert settings["labels"] == labels and "Other" in labels
        assert config["class_weights"] == pytest.approx(balanced_class_weights(train, labels))
        assert len(set(config["class_weights"])) > 1
    else:
        assert config.get("class_weights") is None


def test_weighted_loss_matches_torch_weighted_cross_entropy():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 4.0]])
    labels = torch.tensor([0, 2, 1, 1])
    weights = [0.5, 2.0, 1.5]
    loss = weighted_loss(weights)({"logits": logits}, labels)
    expected = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor(weights))
    assert loss.item() == pytest.approx(expected.item())
    # With the Trainer's item count (gradient accumulation), the weighted sum is divided by it.
    summed = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor(weights), reduction="sum")
    counted = weighted_loss(weights)({"logits": logits}, labels, num_items_in_batch=torch.tensor(8))
    assert counted.item() == pytest.approx(summed.item() / 8)


@pytest.mark.slow
def test_resumes_from_the_latest_checkpoint(tmp_path, tiny_backbone, caplog):
    backbone = tiny_backbone("albert-base-v2")
    write_dataset("aptamer-pairs", tmp_path / "train", n_per_class=40, seed=4, length_range=(10, 30))
    checkpoints = tmp_path / "checkpoints"
    argv = ["--preset", "aptamer-pairs", "--train", tmp_path / "train", "--model-dir", tmp_path / "model"]
    argv += [
        "--backbone",
        backbone,
        "--checkpoint-dir",
        checkpoints,
        "--batch-size",
        "8",
        "--max-length",
        "64",
    ]
    assert run_main([*argv, "--max-steps", "2"])[0] == 0
    assert (checkpoints / "checkpoint-2").is_dir()
    with caplog.at_level(logging.INFO, logger="model_code.train"):
        code, _, err = run_main([*argv, "--max-steps", "4"])
    assert code == 0, err[-3000:]
    assert f"resuming from checkpoint {checkpoints / 'checkpoint-2'}" in caplog.text
    state = json.loads((checkpoints / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    # The resumed run carries on the first run's history instead of starting over.
    assert [entry["step"] for entry in state["log_history"] if "eval_loss" in entry] == [2, 4]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--preset", "circrna", "--batch_sz", "8"], "unknown hyperparameter(s) --batch_sz"),
        (["--preset", "circrna", "--epochs", "-1"], "argument --epochs: '-1' must be > 0"),
        (["--preset", "circrna", "--max-length", "4"], "max_length must be at least 8"),
        (["--preset", "circrna", "--hidden-size", "30", "--num-attention-heads", "4"], "multiple of"),
        (["--preset", "entailment", "--hidden-size", "32"], "whose size is fixed"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(tmp_path, extra, message):
    write_dataset("circrna", tmp_path / "train", n_per_class=3, seed=0, length_range=(50, 60))
    code, _, err = run_main(["--train", tmp_path / "train", "--model-dir", tmp_path / "model", *extra])
    assert code == 2
    assert err.startswith("train: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("folder", ["absent", "empty"])
def test_a_backbone_that_cannot_be_loaded_exits_2_with_one_line_naming_it(tmp_path, folder):
    write_dataset("entailment", tmp_path / "train", n_per_class=10, seed=0)
    backbone = tmp_path / folder
    if folder == "empty":
        backbone.mkdir()
    argv = ["--preset", "entailment", "--train", tmp_path / "train", "--model-dir", tmp_path / "m"]
    code, _, err = run_main([*argv, "--backbone", backbone])
    assert code == 2
    assert err.startswith(f"train: error: backbone {str(backbone)!r} cannot be loaded: ")
    assert err.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_missing_train_dir_and_bad_data_exit_2_naming_the_problem(tmp_path):
    code, _, err = run_main(
        ["--preset", "circrna", "--train", tmp_path / "absent", "--model-dir", tmp_path / "m"]
    )
    assert code == 2 and "absent does not exist" in err
    train = tmp_path / "train"
    write_dataset("circrna", train, n_per_class=5, seed=0, length_range=(50, 60))
    lines = (train / "lncRNA.txt").read_text().splitlines()
    lines[2] = lines[2][:10] + "X" + lines[2][11:]
    (train / "lncRNA.txt").write_text("\n".join(lines) + "\n")
    code, _, err = run_main(["--preset", "circrna", "--train", train, "--model-dir", tmp_path / "m"])
    assert code == 2
    reason = f"character 'X' at position 11 of the sequence is not one of {get_preset('circrna').alphabet}"
    assert err == f"train: error: {train / 'lncRNA.txt'}, line 3: {reason}\n"
    assert not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def source_dir_copy(tmp_path_factory):
    """model_code copied under another name, as SageMaker's toolkit unpacks a source_dir."""
    copy = tmp_path_factory.mktemp("sagemaker") / "code"
    shutil.copytree(REPO / "model_code", copy, ignore=shutil.ignore_patterns("__pycache__"))
    environ = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return copy, environ


@pytest.mark.slow
def test_runs_as_a_file_from_a_copied_source_dir_with_sagemaker_environment(source_dir_copy, tmp_path):
    copy, environ = source_dir_copy
    # The repository's package is not importable from there: the copy must stand on its own.
    probe = subprocess.run(
        [sys.executable, "-c", "import model_code"], cwd=tmp_path, env=environ, check=False
    )
    assert probe.returncode != 0
    write_dataset("circrna", tmp_path / "train", n_per_class=20, seed=5, length_range=(100, 200))
    environ = {
        **environ,
        "SM_CHANNEL_TRAIN": str(tmp_path / "train"),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"),
    }
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "--preset",
            "circrna",
            "--max_steps",
            "2",
            "--batch_size",
            "8",
            *TINY_KMER,
        ],
        cwd=copy,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {path.name for path in (tmp_path / "model").iterdir()} >= MODEL_FILES
    # SageMaker uploads the output data dir as the job's output.tar.gz: the reports go there too.
    for name in ("evaluation.json", "confusion_matrix.png", "training_curve.png"):
        assert (tmp_path / "output" / name).read_bytes() == (tmp_path / "model" / name).read_bytes()


def test_training_benchmark_skips_without_data(tmp_path):
    result = run_training_benchmark(data=tmp_path / "absent", model_dir=tmp_path / "model")
    assert result == {
        "skipped": f"no circrna data at {tmp_path / 'absent'}: put circRNA.txt and lncRNA.txt there to run it"
    }
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_training_benchmark_reports_held_out_metrics_of_the_model_it_wrote(tmp_path):
    write_dataset("circrna", tmp_path / "data", n_per_class=40, seed=9, length_range=(100, 200))
    result = run_training_benchmark(
        data=tmp_path / "data",
        model_dir=tmp_path / "model",
        per_class=25,
        extra_arguments=["--epochs", "1", *TINY_KMER],
    )
    assert result["examples"] == {"train_channel": 40, "trained_on": 36, "held_out": 10}
    evaluation = json.loads((tmp_path / "model" / "evaluation.json").read_text())
    assert evaluation["split"] == "test" and evaluation["examples"] == 10
    assert result["accuracy"] == round(evaluation["accuracy"], 4)
    assert result["roc_auc"] == round(evaluation["roc_auc"], 4)
    assert result["hyperparameters"]["learning_rate"] == get_preset("circrna").training.learning_rate
    # wall_seconds is rounded to 0.1 s, which on a sub-second run moves the rate by several percent.
    wall = result["wall_seconds"]
    assert 36 / (wall + 0.05) - 0.01 <= result["train_samples_per_second"] <= 36 / (wall - 0.05) + 0.01
    assert result["meets_targets"] is (result["accuracy"] >= 0.9 and result["roc_auc"] >= 0.95)


@pytest.mark.slow
def test_without_test_data_evaluation_reports_on_a_held_out_split_and_says_so(tmp_path, tiny_backbone):
    backbone = tiny_backbone("albert-base-v2")
    write_dataset("aptamer-pairs", tmp_path / "train", n_per_class=20, seed=5, length_range=(10, 30))
    model_dir = tmp_path / "model"
    argv = ["--preset", "aptamer-pairs", "--train", tmp_path / "train", "--model-dir", model_dir]
    argv += ["--backbone", backbone, "--max-steps", "1", "--batch-size", "8", "--max-length", "64"]
    code, out, err = run_main([*argv, "--test-fraction", "0.25", "--validation-fraction", "0.25"])
    assert code == 0, err[-3000:]
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    assert evaluation["split"] == "held_out_test"
    assert "test_fraction 0.25" in evaluation["split_source"]
    # The held-out split is the one the data module holds out: disjoint from validation and training.
    examples = load_examples(get_preset("aptamer-pairs"), tmp_path / "train")
    splits = split_examples(
        examples, validation_fraction=0.25, test_fraction=0.25, seed=42, groups=SplitGroups.SEQUENCES
    )
    assert evaluation["examples"] == len(splits.test) > 0
    assert not sequences_of_examples(splits.test) & sequences_of_examples(splits.train + splits.validation)
    assert "test:accuracy=" in out


def test_mixed_precision_resolves_per_machine_and_fp16_needs_a_gpu():
    assert mixed_precision_flags("auto", cuda=False, bf16_supported=False) == {"bf16": False, "fp16": False}
    assert mixed_precision_flags("auto", cuda=True, bf16_supported=True) == {"bf16": True, "fp16": False}
    assert mixed_precision_flags("auto", cuda=True, bf16_supported=False) == {"bf16": False, "fp16": True}
    assert mixed_precision_flags("bf16", cuda=False, bf16_supported=False)["bf16"] is True
    with pytest.raises(UsageError, match="fp16 needs a CUDA GPU"):
        mixed_precision_flags("fp16", cuda=False, bf16_supported=False)


def test_training_arguments_carry_precision_checkpointing_and_the_save_schedule(tmp_path):
    defaults = get_preset("protein-localization").training
    settings = training_settings(Hyperparameters(mixed_precision="bf16", save_steps=25), defaults)
    args = training_arguments(
        settings=settings, checkpoint_dir=tmp_path, best_metric="accuracy", distributed=False
    )
    assert args.bf16 is True and args.fp16 is False
    assert args.activation_checkpointing is True  # ProtBert's default
    assert args.activation_checkpointing_kwargs == {"use_reentrant": False}
    assert (args.save_strategy, args.save_steps, args.eval_strategy, args.eval_steps) == (
        "steps",
        25,
        "steps",
        25,
    )
    per_epoch = training_arguments(
        settings=training_settings(Hyperparameters(), get_preset("circrna").training),
        checkpoint_dir=tmp_path,
        best_metric="accuracy",
        distributed=False,
    )
    assert (per_epoch.save_strategy, per_epoch.eval_strategy) == ("epoch", "epoch")
    assert per_epoch.activation_checkpointing is False and per_epoch.bf16 is False


@pytest.mark.slow
def test_checkpoints_every_save_steps_with_bf16_and_gradient_checkpointing(tmp_path, tiny_backbone):
    backbone = tiny_backbone("bert-base-uncased")
    write_dataset("entailment", tmp_path / "train", n_per_class=8, seed=6, length_range=(10, 30))
    checkpoints = tmp_path / "checkpoints"
    argv = ["--preset", "entailment", "--train", tmp_path / "train", "--model-dir", tmp_path / "model"]
    argv += [
        "--backbone",
        backbone,
        "--checkpoint-dir",
        checkpoints,
        "--batch-size",
        "4",
        "--max-length",
        "32",
    ]
    argv += [
        "--max-steps",
        "3",
        "--save-steps",
        "1",
        "--mixed-precision",
        "bf16",
        "--gradient-checkpointing",
        "true",
    ]
    code, _, err = run_main(argv)
    assert code == 0, err[-3000:]
    # Every step checkpointed; the best and the latest kept.
    assert (checkpoints / "checkpoint-3").is_dir()
    state = json.loads((checkpoints / "checkpoint-3" / "trainer_state.json").read_text())
    assert [entry["step"] for entry in state["log_history"] if "eval_loss" in entry] == [1, 2, 3]
    training = json.loads((tmp_path / "model" / "seqserve.json").read_text())["training"]
    assert (training["mixed_precision"], training["gradient_checkpointing"], training["save_steps"]) == (
        "bf16",
        True,
        1,
    )


def test_max_length_beyond_a_saved_kmer_backbones_positions_fails_before_training(tmp_path):
    preset = get_preset("circrna")
    backbone = tmp_path / "kmer"
    model = build_model(preset, labels=list(preset.labels))  # max_position_embeddings = max_length (131)
    model.save_pretrained(backbone)
    build_tokenizer(preset).save_pretrained(backbone)
    write_dataset("circrna", tmp_path / "train", n_per_class=10, seed=0, length_range=(400, 500))
    argv = ["--preset", "circrna", "--train", tmp_path / "train", "--model-dir", tmp_path / "model"]
    code, _, err = run_main([*argv, "--backbone", backbone, "--max-length", "300", "--max-steps", "1"])
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "train: error: max_length 300 exceeds the 131 positions of the backbone (kmer_transformer); "
        "lower max_length"
    )
    assert not (tmp_path / "model").exists()
