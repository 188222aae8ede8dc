"""A model's label set from its training data, and any data set mapped onto it."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from model_code.data.loading import DataError, Example
from model_code.presets import Preset

logger = logging.getLogger(__name__)


def label_names(preset: Preset, examples: Sequence[Example]) -> list[str]:
    """The model's labels: the preset's fixed ones, or the sorted labels of ``examples`` (the training
    data) with those seen fewer than ``preset.min_class_count`` times merged into ``preset.other_label``.
    Map any data set onto them with ``apply_labels``."""
    if preset.labels is not None:
        return list(preset.labels)
    if not examples:
        raise DataError("no examples to take the label set from")
    counts = Counter(example.label for example in examples)
    kept = {label for label, count in counts.items() if count >= (preset.min_class_count or 1)}
    merged = sorted(label for label in counts if label not in kept)
    if merged:
        kept.add(preset.other_label)
        logger.warning(
            "merged %d labels seen fewer than %d times in the training data into %r (%d examples): %s",
            len(merged),
            preset.min_class_count,
            preset.other_label,
            sum(counts[label] for label in merged),
            ", ".join(f"{label} ({counts[label]})" for label in merged),
        )
    if len(kept) < 2:
        raise DataError(
            f"the training data has fewer than 2 labels after merging labels seen fewer than "
            f"{preset.min_class_count} times into {preset.other_label!r}: {dict(counts)}"
        )
    return sorted(kept)


def apply_labels(preset: Preset, examples: Sequence[Example], labels: Sequence[str]) -> list[Example]:
    """``examples`` with rare labels merged as ``label_names`` merged them; any other label outside
    ``labels`` is a DataError naming the row."""
    known = set(labels)
    merges = preset.min_class_count is not None and preset.other_label in known
    result = []
    for example in examples:
        if example.label in known:
            result.append(example)
        elif merges:
            result.append(replace(example, label=preset.other_label))
        else:
            raise DataError(
                f"{example.origin}: label {example.label!r} is not one of the model's labels "
                f"{', '.join(labels)}"
            )
    return result


def balanced_class_weights(examples: Sequence[Example], labels: Sequence[str]) -> list[float]:
    """One loss weight per label (in ``labels`` order), inversely proportional to its frequency."""
    present = {example.label for example in examples}
    missing = [label for label in labels if label not in present]
    if missing:
        raise DataError(
            f"no training examples of label(s) {', '.join(map(repr, missing))}: cannot weight them"
        )
    weights = compute_class_weight(
        "balanced", classes=np.array(list(labels)), y=np.array([example.label for example in examples])
    )
    return [float(weight) for weight in weights]
