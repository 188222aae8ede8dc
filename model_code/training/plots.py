"""The PNG figures written next to a trained model: confusion matrix and training curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

# Training runs headless (SageMaker, CI); pick the file-only backend before pyplot loads.
matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay


def plot_confusion_matrix(*, matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> Path:
    size = max(4.0, 0.6 * len(labels) + 2.5)
    figure, axes = plt.subplots(figsize=(size, size))
    try:
        display = ConfusionMatrixDisplay(confusion_matrix=np.asarray(matrix), display_labels=list(labels))
        display.plot(ax=axes, cmap="Blues", colorbar=False, xticks_rotation="vertical", values_format="d")
        axes.set_title("Confusion matrix")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
    return path


def plot_training_curve(*, log_history: Sequence[Mapping[str, float]], path: Path) -> Path:
    """Training loss per logging step, validation loss and accuracy per evaluation, against epochs.

    ``log_history`` is the Trainer's ``state.log_history``: dicts with ``epoch`` and ``loss`` or
    ``eval_loss``/``eval_accuracy``.
    """
    train = [(entry["epoch"], entry["loss"]) for entry in log_history if "loss" in entry]
    evaluation = [entry for entry in log_history if "eval_loss" in entry]
    figure, loss_axes = plt.subplots(figsize=(7, 4.5))
    try:
        if train:
            loss_axes.plot(*zip(*train, strict=True), label="training loss", color="tab:blue")
        if evaluation:
            loss_axes.plot(
                [entry["epoch"] for entry in evaluation],
                [entry["eval_loss"] for entry in evaluation],
                marker="o",
                label="validation loss",
                color="tab:orange",
            )
        loss_axes.set_xlabel("epoch")
        loss_axes.set_ylabel("loss")
        handles, names = loss_axes.get_legend_handles_labels()
        accuracy = [entry for entry in evaluation if "eval_accuracy" in entry]
        if accuracy:
            accuracy_axes = loss_axes.twinx()
            accuracy_axes.plot(
                [entry["epoch"] for entry in accuracy],
                [entry["eval_accuracy"] for entry in accuracy],
                marker="s",
                label="validation accuracy",
                color="tab:green",
            )
            accuracy_axes.set_ylabel("accuracy")
            accuracy_axes.set_ylim(0.0, 1.0)
            more_handles, more_names = accuracy_axes.get_legend_handles_labels()
            handles, names = handles + more_handles, names + more_names
        if handles:
            loss_axes.legend(handles, names, loc="center right")
        loss_axes.set_title("Training curve")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
    return path
