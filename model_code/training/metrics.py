"""Classification metrics, and the log lines SageMaker reads them from.

SageMaker scrapes a training job's log with one regular expression per metric (the training job's
``MetricDefinitions``). Training prints every metric it wants charted as
``seqserve_metric <split>:<name>=<value>;`` and ``METRIC_DEFINITIONS`` holds the matching expressions,
so the CDK app imports them instead of repeating the format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score

METRIC_PREFIX = "seqserve_metric"

# The metrics charted in SageMaker: (split, name) pairs that format_metric_line may print.
CHARTED_METRICS: tuple[tuple[str, str], ...] = (
    ("train", "loss"),
    ("train", "epoch"),
    ("validation", "loss"),
    ("validation", "accuracy"),
    ("validation", "macro_f1"),
    ("validation", "roc_auc"),
    ("test", "accuracy"),
    ("test", "macro_f1"),
    ("test", "roc_auc"),
)

_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def _regex(split: str, name: str) -> str:
    # The space before the key keeps "validation:loss" from matching inside another key.
    return rf"{METRIC_PREFIX}.* {split}:{name}={_NUMBER};"


METRIC_DEFINITIONS: tuple[dict[str, str], ...] = tuple(
    {"Name": f"{split}:{name}", "Regex": _regex(split, name)} for split, name in CHARTED_METRICS
)


def format_metric_line(values: Mapping[str, float | None]) -> str:
    """One log line of ``split:name`` values; values that are not finite numbers are left out."""
    parts = [
        f" {key}={float(value):.6g};"
        for key, value in values.items()
        if value is not None and math.isfinite(float(value))
    ]
    return METRIC_PREFIX + "".join(parts)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def classification_report(
    *, y_true: Sequence[int], probabilities: np.ndarray, labels: Sequence[str]
) -> dict[str, object]:
    """Accuracy, per-class and macro precision/recall/F1, ROC AUC (two classes) and the confusion matrix.

    ``y_true`` holds label indices into ``labels``; ``probabilities`` is (examples, len(labels)). Macro
    averages are over the labels ``y_true`` holds; ``macro.absent_labels`` names the others.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    y_true_array = np.asarray(y_true, dtype=np.int64)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(labels):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}; expected (examples, {len(labels)} labels)"
        )
    if len(y_true_array) != probabilities.shape[0]:
        raise ValueError(f"{len(y_true_array)} true labels for {probabilities.shape[0]} predictions")
    if len(y_true_array) == 0:
        raise ValueError("no examples to evaluate")
    if y_true_array.min() < 0 or y_true_array.max() >= len(labels):
        raise ValueError(f"true label indices must lie in 0..{len(labels) - 1}")
    indices = list(range(len(labels)))
    y_pred = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true_array, y_pred, labels=indices, zero_division=0
    )
    # A label the evaluated data never holds has no recall to measure; counting it as 0 would pull the
    # macro average down by a share that depends only on which labels a test set happens to hold.
    present = support > 0
    report: dict[str, object] = {
        "examples": len(y_true_array),
        "accuracy": float(accuracy_score(y_true_array, y_pred)),
        "macro": {
            "precision": float(np.mean(precision[present])),
            "recall": float(np.mean(recall[present])),
            "f1": float(np.mean(f1[present])),
            "averaged_over": int(present.sum()),
            # The model's labels absent from the evaluated data, left out of the averages above.
            "absent_labels": [label for i, label in enumerate(labels) if not present[i]],
        },
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": {
            "labels": list(labels),
            # Rows are true labels, columns predicted ones.
            "matrix": confusion_matrix(y_true_array, y_pred, labels=indices).tolist(),
        },
    }
    if len(labels) == 2:
        # AUC is undefined when the data hold only one of the two classes.
        report["roc_auc"] = (
            float(roc_auc_score(y_true_array, probabilities[:, 1]))
            if len(np.unique(y_true_array)) == 2
            else None
        )
    return report


def headline(report: Mapping[str, object]) -> dict[str, float | None]:
    """The scalar metrics of a report, as named in METRIC_DEFINITIONS and the Trainer's logs."""
    macro = report["macro"]
    values: dict[str, float | None] = {"accuracy": report["accuracy"], "macro_f1": macro["f1"]}
    if "roc_auc" in report:
        values["roc_auc"] = report["roc_auc"]
    return values
