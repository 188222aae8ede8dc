import json
import re

import numpy as np
import pytest

from model_code.training.metrics import (
    METRIC_DEFINITIONS,
    classification_report,
    format_metric_line,
    headline,
    softmax,
)
from model_code.training.plots import plot_confusion_matrix, plot_training_curve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_binary_report_has_every_metric():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    report = classification_report(y_true=[0, 1, 1, 0], probabilities=probabilities, labels=["a", "b"])
    assert report["examples"] == 4
    assert report["accuracy"] == pytest.approx(0.5)
    # predictions: a, b, a, b -> a: tp 1 fp 1 fn 1; b: tp 1 fp 1 fn 1
    assert report["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["macro"] == {
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "averaged_over": 2,
        "absent_labels": [],
    }
    assert report["confusion_matrix"] == {"labels": ["a", "b"], "matrix": [[1, 1], [1, 1]]}
    # scores for class b: positives 0.8, 0.4; negatives 0.1, 0.7 -> 3 of 4 pairs ordered
    assert report["roc_auc"] == pytest.approx(0.75)
    json.dumps(report)  # evaluation.json must serialise as is


def test_multiclass_report_has_no_auc_and_counts_absent_classes():
    probabilities = np.eye(3)[[0, 1, 1]]
    report = classification_report(y_true=[0, 1, 0], probabilities=probabilities, labels=["x", "y", "z"])
    assert "roc_auc" not in report
    assert report["per_class"]["z"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["confusion_matrix"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_auc_is_null_when_one_class_is_present():
    report = classification_report(y_true=[1, 1], probabilities=[[0.4, 0.6], [0.7, 0.3]], labels=["a", "b"])
    assert report["roc_auc"] is None
    # Only b is present: precision 1, recall 1/2, F1 2/3; a is left out of the average, not counted as 0.
    assert headline(report) == {"accuracy": 0.5, "macro_f1": pytest.approx(2 / 3), "roc_auc": None}
    assert report["macro"]["absent_labels"] == ["a"]


def test_macro_averages_only_the_labels_present_and_names_the_absent():
    # Labels x, y, z; the data hold x and y only, every prediction right (z is never predicted either).
    probabilities = np.eye(3)[[0, 1, 1, 0]]
    report = classification_report(y_true=[0, 1, 1, 0], probabilities=probabilities, labels=["x", "y", "z"])
    assert report["macro"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "averaged_over": 2,
        "absent_labels": ["z"],
    }
    assert headline(report)["macro_f1"] == 1.0


@pytest.mark.parametrize(
    ("y_true", "probabilities", "message"),
    [
        ([0], [[0.5, 0.5, 0.0]], "shape"),
        ([0, 1], [[0.5, 0.5]], "2 true labels for 1 predictions"),
        ([], np.zeros((0, 2)), "no examples"),
        ([2], [[0.5, 0.5]], "0..1"),
    ],
)
def test_report_rejects_inconsistent_inputs(y_true, probabilities, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        classification_report(y_true=y_true, probabilities=probabilities, labels=["a", "b"])


def test_softmax_rows_sum_to_one_and_keep_order():
    probabilities = softmax(np.array([[1000.0, 1001.0], [0.0, -1.0]]))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[0, 1] > probabilities[0, 0]
    assert probabilities[1, 0] > probabilities[1, 1]


def test_each_metric_definition_reads_only_its_own_value():
    line = format_metric_line(
        {
            "train:loss": 0.25,
            "validation:loss": 1.5e-3,
            "validation:accuracy": 0.93,
            "validation:roc_auc": None,
        }
    )
    assert line == "seqserve_metric train:loss=0.25; validation:loss=0.0015; validation:accuracy=0.93;"
    found = {}
    for definition in METRIC_DEFINITIONS:
        match = re.search(definition["Regex"], line)
        if match:
            found[definition["Name"]] = float(match.group(1))
    assert found == {"train:loss": 0.25, "validation:loss": 0.0015, "validation:accuracy": 0.93}


def test_metric_definitions_fit_sagemaker_limits():
    assert len(METRIC_DEFINITIONS) <= 40
    names = [definition["Name"] for definition in METRIC_DEFINITIONS]
    assert len(set(names)) == len(names)
    for definition in METRIC_DEFINITIONS:
        assert set(definition) == {"Name", "Regex"}
        assert len(definition["Regex"]) <= 500
        re.compile(definition["Regex"])


def test_metric_line_drops_non_finite_values():
    assert format_metric_line({"test:accuracy": float("nan"), "test:macro_f1": 1}) == (
        "seqserve_metric test:macro_f1=1;"
    )


def test_plots_write_png_files(tmp_path):
    matrix_png = plot_confusion_matrix(matrix=[[3, 1], [0, 4]], labels=["a", "b"], path=tmp_path / "cm.png")
    history = [
        {"epoch": 0.5, "loss": 0.7},
        {"epoch": 1.0, "loss": 0.5},
        {"epoch": 1.0, "eval_loss": 0.55, "eval_accuracy": 0.8},
        {"epoch": 2.0, "eval_loss": 0.4, "eval_accuracy": 0.9},
    ]
    curve_png = plot_training_curve(log_history=history, path=tmp_path / "curve.png")
    for path in (matrix_png, curve_png):
        assert path.read_bytes().startswith(PNG_MAGIC)
