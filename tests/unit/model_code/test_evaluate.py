import json

import pytest
from transformers import set_seed

from model_code.data.loading import load_examples
from model_code.data.synthetic import write_dataset
from model_code.evaluate import evaluate_data, evaluate_examples, main
from model_code.modeling.factory import build_model, build_tokenizer
from model_code.train import finalise_model_dir
from model_code.training.hyperparameters import Hyperparameters, preset_for_run, training_settings


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """An untrained tiny circrna model written the way training writes it (no Trainer needed)."""
    root = tmp_path_factory.mktemp("evaluate")
    hyperparameters = Hyperparameters(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, max_length=35
    )
    preset = preset_for_run("circrna", hyperparameters)
    set_seed(0)
    write_dataset("circrna", root / "data", n_per_class=20, seed=7, length_range=(60, 120))
    examples = load_examples(preset, root / "data")
    labels = list(preset.labels)
    finalise_model_dir(
        root / "model",
        model=build_model(preset, labels=labels),
        tokenizer=build_tokenizer(preset),
        preset=preset,
        labels=labels,
        settings=training_settings(hyperparameters, preset.training),
        backbone=None,
        evaluation=examples,
        evaluation_split="validation",
        log_history=[],
    )
    return root / "model"


def test_cli_prints_the_metrics_training_wrote(model_dir, capsys):
    data = model_dir.parent / "data"
    assert main(["--model-dir", str(model_dir), "--data", str(data)]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((model_dir / "evaluation.json").read_text())
    assert written.pop("split") == "validation"
    assert printed == written
    assert printed["examples"] == 40
    assert set(printed) >= {"accuracy", "macro", "per_class", "roc_auc", "confusion_matrix"}


def test_cli_reads_the_data_set_s_own_file_names(model_dir, tmp_path, capsys):
    """The circRNA/lncRNA data ships as circRNA_test.txt and lncRNA_test2.txt, not circRNA.txt."""
    data = model_dir.parent / "data"
    (tmp_path / "circRNA_test.txt").write_text((data / "circRNA.txt").read_text())
    (tmp_path / "lncRNA_test2.txt").write_text((data / "lncRNA.txt").read_text())
    assert main(["--model-dir", str(model_dir), "--data", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["examples"] == 40
    assert {label: row["support"] for label, row in printed["per_class"].items()} == {
        "circRNA": 20,
        "lncRNA": 20,
    }


def test_reads_a_single_data_file(model_dir):
    report = evaluate_data(model_dir=model_dir, data=model_dir.parent / "data" / "lncRNA.txt")
    assert report["examples"] == 20
    assert report["per_class"]["lncRNA"]["support"] == 20
    assert report["roc_auc"] is None  # one class present: AUC undefined, not a crash


def test_scores_do_not_depend_on_batch_composition(model_dir):
    examples = load_examples(preset_for_run("circrna", Hyperparameters()), model_dir.parent / "data")[::3]
    one_by_one = evaluate_examples(model_dir=model_dir, examples=examples, batch_size=1)
    together = evaluate_examples(model_dir=model_dir, examples=examples, batch_size=64)
    reversed_order = evaluate_examples(model_dir=model_dir, examples=examples[::-1], batch_size=7)
    assert one_by_one == together
    assert reversed_order["confusion_matrix"] == together["confusion_matrix"]
    assert reversed_order["roc_auc"] == pytest.approx(together["roc_auc"])


def test_bad_data_is_one_line_naming_file_and_line(model_dir, tmp_path, capsys):
    bad = tmp_path / "circRNA.txt"
    bad.write_text("ACGTACGTACGT\nACGT-ACGT\n")
    assert main(["--model-dir", str(model_dir), "--data", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"evaluate: error: {bad}, line 2: character '-' at position 5 of the sequence is not one of "
        f"{preset_for_run('circrna', Hyperparameters()).alphabet}\n"
    )


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "absent", "no such file or folder"),
        (
            lambda d: (d / "mRNA.txt").write_text("ACGT\n") and d / "mRNA.txt",
            "begins with none of preset 'circrna''s labels",
        ),
        (lambda d: (d / "x.csv").write_text("a,b\n") and d, "no class-per-file data files"),
    ],
)
def test_unreadable_data_exits_2(model_dir, tmp_path, capsys, setup, message):
    assert main(["--model-dir", str(model_dir), "--data", str(setup(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluate: error: ") and message in err and err.count("\n") == 1


def test_not_a_model_dir_exits_2(tmp_path, capsys):
    assert main(["--model-dir", str(tmp_path), "--data", str(tmp_path)]) == 2
    missing = f"{tmp_path / 'seqserve.json'} is missing: {tmp_path} is not a trained model directory"
    assert capsys.readouterr().err == f"evaluate: error: {missing}\n"
    (tmp_path / "seqserve.json").write_text(json.dumps({"preset": "nope", "labels": ["a", "b"]}))
    assert main(["--model-dir", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_labels_the_model_merged_into_other_are_merged_in_the_data_too(tmp_path, tiny_backbone):
    # medical-specialty trains on the common specialties plus "Other" for the rare ones.
    hyperparameters = Hyperparameters(max_length=32)
    preset = preset_for_run("medical-specialty", hyperparameters)
    backbone = tiny_backbone(preset.model)
    labels = ["Cardiology", "Other"]
    rows = ["transcription,medical_specialty", "chest pain,Cardiology", "heart exam,Cardiology"]
    rows += ["left knee,Orthopedic", "skin rash,Dermatology"]
    (tmp_path / "notes.csv").write_text("\n".join(rows) + "\n")
    finalise_model_dir(
        tmp_path / "model",
        model=build_model(preset, labels=labels, backbone=backbone),
        tokenizer=build_tokenizer(preset, backbone=backbone),
        preset=preset,
        labels=labels,
        settings=training_settings(hyperparameters, preset.training),
        backbone=str(backbone),
        evaluation=load_examples(preset, tmp_path / "notes.csv")[:2],
        evaluation_split="validation",
        log_history=[],
    )
    report = evaluate_data(model_dir=tmp_path / "model", data=tmp_path / "notes.csv")
    assert {label: row["support"] for label, row in report["per_class"].items()} == {
        "Cardiology": 2,
        "Other": 2,
    }
