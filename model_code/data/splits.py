"""Split examples into train, validation and test sets: stratified by label, or with no sequence shared
between splits where the preset asks for it (pairs of sequences)."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from model_code.data.loading import DataError, Example

logger = logging.getLogger(__name__)


def split_marked_test(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(training, test) examples by the source's own test mark (DeepLoc's `` test`` header flag)."""
    return [e for e in examples if not e.is_test], [e for e in examples if e.is_test]


def stratified_split(
    examples: Sequence[Example], *, validation_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, validation): each label in the same proportion in both, reproducible for a seed."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {validation_fraction!r}")
    counts = Counter(example.label for example in examples)
    too_few = sorted(label for label, count in counts.items() if count < 2)
    if too_few:
        raise DataError(
            f"cannot split off a stratified validation set: label(s) {', '.join(map(repr, too_few))} "
            "have fewer than 2 examples; add examples or give a validation set"
        )
    try:
        train, validation = train_test_split(
            list(examples),
            test_size=validation_fraction,
            stratify=[example.label for example in examples],
            random_state=seed,
        )
    except ValueError as error:  # sklearn: the fraction leaves fewer rows than labels on one side
        raise DataError(
            f"cannot split {len(examples)} examples of {len(counts)} labels with validation_fraction "
            f"{validation_fraction}: {error}"
        ) from None
    return train, validation


@dataclass(frozen=True, kw_only=True)
class Splits:
    """The training data split three ways; ``test`` is empty unless a test fraction was asked for."""

    train: list[Example]
    validation: list[Example]
    test: list[Example]
    # Pairs left out because their two sequences fell in different splits (see split_examples).
    dropped: int = 0


def split_examples(
    examples: Sequence[Example],
    *,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    disjoint_sequences: bool = False,
) -> Splits:
    """Split off a test set (``test_fraction`` of the examples, none for 0) and a validation set.

    Without ``disjoint_sequences`` both are stratified by label. With it, no sequence (``text`` or
    ``text_pair``) is in two splits: pairs that share a sequence form one group and each group goes
    whole to one split. When the groups are too large for that (most pairs linked through shared
    sequences), each distinct sequence is assigned to a split instead and a pair whose two sequences
    landed in different splits is dropped, with a warning counting them.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {validation_fraction!r}")
    if not 0.0 <= test_fraction < 1.0 or validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"test_fraction {test_fraction!r} must be at least 0 and leave training data after "
            f"validation_fraction {validation_fraction!r}"
        )
    if disjoint_sequences:
        return _split_by_sequence(
            list(examples), validation_fraction=validation_fraction, test_fraction=test_fraction, seed=seed
        )
    rest, test = list(examples), []
    if test_fraction > 0:
        rest, test = _stratified(rest, fraction=test_fraction, seed=seed, what="test")
    train, validation = _stratified(
        rest, fraction=validation_fraction / (1.0 - test_fraction), seed=seed, what="validation"
    )
    return Splits(train=train, validation=validation, test=test)


def _stratified(
    examples: list[Example], *, fraction: float, seed: int, what: str
) -> tuple[list[Example], list[Example]]:
    counts = Counter(example.label for example in examples)
    too_few = sorted(label for label, count in counts.items() if count < 2)
    if too_few:
        raise DataError(
            f"cannot split off a stratified {what} set: label(s) {', '.join(map(repr, too_few))} have "
            f"too few examples left (each needs one per split); add examples or give a {what} set"
        )
    # At least one example of each label on the held-out side (sklearn's own minimum).
    size = max(math.ceil(fraction * len(examples)), len(counts))
    try:
        kept, held_out = train_test_split(
            examples, test_size=size, stratify=[e.label for e in examples], random_state=seed
        )
    except ValueError as error:  # the held-out size leaves fewer rows than labels on the other side
        raise DataError(
            f"cannot split a {what} set off {len(examples)} examples of {len(counts)} labels: {error}"
        ) from None
    return kept, held_out


def _sequences(example: Example) -> tuple[str, ...]:
    return (example.text,) if example.text_pair is None else (example.text, example.text_pair)


def sequences_of_examples(examples: Sequence[Example]) -> set[str]:
    """Every sequence (text or text_pair) the examples hold."""
    return {sequence for example in examples for sequence in _sequences(example)}


def _sequence_groups(examples: Sequence[Example]) -> list[list[int]]:
    """Indices of the examples, grouped so that examples sharing any sequence are in one group."""
    parent: dict[str, str] = {}

    def root(sequence: str) -> str:
        parent.setdefault(sequence, sequence)
        while parent[sequence] != sequence:
            parent[sequence] = parent[parent[sequence]]
            sequence = parent[sequence]
        return sequence

    for example in examples:
        first, *others = _sequences(example)
        for other in others:
            parent[root(other)] = root(first)
    groups: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        groups.setdefault(root(example.text), []).append(index)
    return list(groups.values())


def _split_by_sequence(
    examples: list[Example], *, validation_fraction: float, test_fraction: float, seed: int
) -> Splits:
    rng = np.random.default_rng(seed)
    groups = _sequence_groups(examples)
    targets = {"test": test_fraction * len(examples), "validation": validation_fraction * len(examples)}
    chosen: dict[str, list[int]] = {"test": [], "validation": [], "train": []}
    for group_index in rng.permutation(len(groups)):
        group = groups[group_index]
        split = next(
            (
                name
                for name, target in targets.items()
                if len(chosen[name]) < target and len(chosen[name]) + len(group) <= max(1.5 * target, 1)
            ),
            "train",
        )
        chosen[split].extend(group)
    wanted = ["validation", *(["test"] if test_fraction > 0 else [])]
    if chosen["train"] and all(chosen[name] for name in wanted):
        pick = {name: [examples[i] for i in sorted(indices)] for name, indices in chosen.items()}
        return Splits(train=pick["train"], validation=pick["validation"], test=pick["test"])
    # Sequences are too connected for whole groups: split the sequences, drop pairs that straddle splits.
    sequences = sorted({sequence for example in examples for sequence in _sequences(example)})
    draws = rng.random(len(sequences))
    home = {
        sequence: "test"
        if draw < test_fraction
        else "validation"
        if draw < test_fraction + validation_fraction
        else "train"
        for sequence, draw in zip(sequences, draws, strict=True)
    }
    pick = {"train": [], "validation": [], "test": []}
    dropped = 0
    for example in examples:
        splits = {home[sequence] for sequence in _sequences(example)}
        if len(splits) == 1:
            pick[splits.pop()].append(example)
        else:
            dropped += 1
    if not pick["train"] or not all(pick[name] for name in wanted):
        raise DataError(
            f"cannot split {len(examples)} pairs so that no sequence is in two splits: the largest group "
            f"of pairs linked by shared sequences holds {max(map(len, groups))}; give more data or a "
            "separate test set"
        )
    logger.warning(
        "%d of %d pairs left out: their two sequences fell in different splits (sequences shared "
        "by many pairs keep every split free of the others' sequences only this way)",
        dropped,
        len(examples),
    )
    return Splits(train=pick["train"], validation=pick["validation"], test=pick["test"], dropped=dropped)
