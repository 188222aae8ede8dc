"""Split examples into train, validation and test sets: stratified by label, or in groups that never
straddle two splits where the preset asks for it (no shared sequence, no shared premise); and remove
duplicate examples before any split."""

from __future__ import annotations

import heapq
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from model_code.data.loading import DataError, Example
from model_code.presets import SplitGroups

logger = logging.getLogger(__name__)

# How far a split may be from its fraction of the examples when groups go whole to one split.
FRACTION_TOLERANCE = 0.01


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
class Deduplicated:
    """The examples with each input once; what was removed, for the report."""

    examples: list[Example]
    # Copies of an input with the same label as its first occurrence: removed, the first kept.
    duplicates: int
    # Inputs that occur with different labels: every copy removed, as no label is right for them.
    conflicts: list[list[Example]]


def _input_key(example: Example) -> tuple[str, str | None]:
    # Whitespace runs count as one space: an exported note copied twice differs at most in those.
    pair = None if example.text_pair is None else " ".join(example.text_pair.split())
    return " ".join(example.text.split()), pair


def deduplicate(examples: Sequence[Example]) -> Deduplicated:
    """Each input (text and text_pair) once, before any split: a copy in two splits would be trained on
    and then scored as unseen. Inputs with conflicting labels are removed, and both kinds of removal are
    logged with where the rows came from."""
    copies: dict[tuple[str, str | None], list[Example]] = {}
    for example in examples:
        copies.setdefault(_input_key(example), []).append(example)
    kept, conflicts, duplicates = [], [], 0
    for group in copies.values():  # in the order of first occurrence: the splits draw from it by seed
        if len({example.label for example in group}) > 1:
            conflicts.append(group)
        else:
            kept.append(group[0])
            duplicates += len(group) - 1
    if duplicates:
        logger.warning(
            "removed %d duplicate examples (an input seen before, with the same label)", duplicates
        )
    if conflicts:
        shown = "; ".join(
            ", ".join(f"{example.origin or 'row'} ({example.label})" for example in group)
            for group in conflicts[:5]
        )
        logger.warning(
            "removed %d inputs that occur with conflicting labels (%d rows): %s%s",
            len(conflicts),
            sum(map(len, conflicts)),
            shown,
            "; ..." if len(conflicts) > 5 else "",
        )
    return Deduplicated(examples=kept, duplicates=duplicates, conflicts=conflicts)


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
    groups: SplitGroups = SplitGroups.NONE,
) -> Splits:
    """Split off a test set (``test_fraction`` of the examples, none for 0) and a validation set.

    ``SplitGroups.NONE``: both are stratified by label. Otherwise examples that share what ``groups``
    names go whole to one split: ``PREMISE``, those with the same ``text``; ``SEQUENCES``, those linked
    through any shared sequence (``text`` or ``text_pair``), so no sequence is in two splits. Each split
    gets its fraction of the examples kept to within a point (:data:`FRACTION_TOLERANCE`). When sequences
    link the pairs too densely for whole groups to do that, sequences are assigned to splits instead, and
    the pairs whose two sequences land in different splits are dropped, counted in a warning.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {validation_fraction!r}")
    if not 0.0 <= test_fraction < 1.0 or validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"test_fraction {test_fraction!r} must be at least 0 and leave training data after "
            f"validation_fraction {validation_fraction!r}"
        )
    if groups is not SplitGroups.NONE:
        fractions = {"test": test_fraction, "validation": validation_fraction}
        return _split_by_group(list(examples), fractions=fractions, seed=seed, groups=groups)
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


def _keys(example: Example, groups: SplitGroups) -> tuple[str, ...]:
    """What ties an example to others in one split: its premise, or each of its sequences."""
    return (example.text,) if groups is SplitGroups.PREMISE else _sequences(example)


def _groups(examples: Sequence[Example], groups: SplitGroups) -> list[list[int]]:
    """Indices of the examples, grouped so that examples sharing a key are in one group."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for example in examples:
        first, *others = _keys(example, groups)
        root(first)
        for other in others:
            parent[root(other)] = root(first)
    found: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        found.setdefault(root(example.text), []).append(index)
    return list(found.values())


def _slack(total: int) -> float:
    """How many examples a split may be off its fraction: a point, or one example below 100."""
    return max(FRACTION_TOLERANCE * total, 1.0)


def _within_tolerance(sizes: dict[str, int], *, fractions: dict[str, float], total: int) -> bool:
    return total > 0 and all(
        abs(sizes[name] - fraction * total) <= _slack(total) and (fraction == 0 or sizes[name] > 0)
        for name, fraction in fractions.items()
    )


def _whole_groups(
    groups: list[list[int]], *, fractions: dict[str, float], total: int, rng: np.random.Generator
) -> dict[str, list[int]] | None:
    """Groups dealt whole to the held-out splits until each holds its fraction; None when that misses a
    fraction by more than the tolerance (a group too large for any split but training)."""
    chosen: dict[str, list[int]] = {"test": [], "validation": [], "train": []}
    limits = {name: fraction * total + _slack(total) for name, fraction in fractions.items()}
    targets = {name: fraction * total for name, fraction in fractions.items()}
    for group_index in rng.permutation(len(groups)):
        group = groups[group_index]
        split = next(
            (
                name
                for name, target in targets.items()
                if len(chosen[name]) < target and len(chosen[name]) + len(group) <= limits[name]
            ),
            "train",
        )
        chosen[split].extend(group)
    sizes = {name: len(indices) for name, indices in chosen.items()}
    return chosen if _within_tolerance(sizes, fractions=fractions, total=total) else None


def _grown_splits(
    examples: list[Example], *, fractions: dict[str, float], rng: np.random.Generator
) -> tuple[dict[str, list[int]], int]:
    """Sequences assigned to splits so that each split's pairs (both sequences in it) are its fraction
    of the pairs kept; pairs across two splits are dropped. Returns (indices per split, dropped).

    Each held-out split grows from a random sequence by adding, each time, the unassigned sequence with
    the most pairs into the split so far: pairs inside the split rise fast while few cross its border,
    which keeps the dropped pairs down. The fractions are of the pairs kept, which depend on how many the
    growth drops, so the growth targets are found by bisection.
    """
    sequences = sorted(sequences_of_examples(examples))
    number = {sequence: i for i, sequence in enumerate(sequences)}
    ends = [(number[e.text], number[e.text_pair if e.text_pair is not None else e.text]) for e in examples]
    neighbours: list[list[tuple[int, int]]] = [[] for _ in sequences]
    for index, (a, b) in enumerate(ends):
        neighbours[a].append((b, index))
        if a != b:
            neighbours[b].append((a, index))
    order = rng.permutation(len(sequences))

    def assign(scale: float) -> list[str]:
        home = ["train"] * len(sequences)
        for name, fraction in fractions.items():
            if fraction > 0:
                _grow(name, target=fraction * scale, home=home, neighbours=neighbours, order=order)
        return home

    def held_out_share(home: list[str]) -> float:
        kept = [home[a] for a, b in ends if home[a] == home[b]]
        return sum(split != "train" for split in kept) / max(len(kept), 1)

    # The held-out splits' share of the pairs kept grows with their targets: bisect on a target scale
    # (in pairs) for the share the fractions ask for.
    wanted = sum(fractions.values())
    low, high = 0.0, float(len(examples))
    best = assign(high)
    for _ in range(24):
        middle = (low + high) / 2
        home = assign(middle)
        share = held_out_share(home)
        if abs(share - wanted) < abs(held_out_share(best) - wanted):
            best = home
        if share < wanted:
            low = middle
        else:
            high = middle
    chosen: dict[str, list[int]] = {"test": [], "validation": [], "train": []}
    for index, (a, b) in enumerate(ends):
        if best[a] == best[b]:
            chosen[best[a]].append(index)
    return chosen, len(examples) - sum(map(len, chosen.values()))


def _grow(
    name: str, *, target: float, home: list[str], neighbours: list[list[tuple[int, int]]], order
) -> None:
    inside = 0  # pairs with both sequences in the split
    links = [0] * len(home)  # per sequence, its pairs into the split
    heap: list[tuple[int, int, int]] = []  # (-links, rank in order, sequence): most links first
    rank = {int(sequence): position for position, sequence in enumerate(order)}
    starts = iter(int(sequence) for sequence in order)
    while inside < target:
        while heap and (home[heap[0][2]] != "train" or -heap[0][0] != links[heap[0][2]]):
            heapq.heappop(heap)  # assigned, or a stale count
        if heap:
            sequence = heapq.heappop(heap)[2]
        else:  # nothing touches the split yet (or any more): start from the next free sequence
            sequence = next((s for s in starts if home[s] == "train"), None)
            if sequence is None:
                return
        home[sequence] = name
        inside += links[sequence] + sum(1 for other, _ in neighbours[sequence] if other == sequence)
        for other, _ in neighbours[sequence]:
            if home[other] == "train" and other != sequence:
                links[other] += 1
                heapq.heappush(heap, (-links[other], rank[other], other))


def _split_by_group(
    examples: list[Example], *, fractions: dict[str, float], seed: int, groups: SplitGroups
) -> Splits:
    rng = np.random.default_rng(seed)
    found = _groups(examples, groups)
    chosen = _whole_groups(found, fractions=fractions, total=len(examples), rng=rng)
    dropped = 0
    if chosen is None and groups is SplitGroups.SEQUENCES:
        chosen, dropped = _grown_splits(examples, fractions=fractions, rng=rng)
        sizes = {name: len(indices) for name, indices in chosen.items()}
        if not _within_tolerance(sizes, fractions=fractions, total=len(examples) - dropped):
            chosen = None
    if chosen is None or not chosen["train"]:
        what = "premise" if groups is SplitGroups.PREMISE else "sequence"
        raise DataError(
            f"cannot split {len(examples)} examples so that no {what} is in two splits and each split "
            f"holds its fraction ({fractions}) within {FRACTION_TOLERANCE:.0%}: the largest group of "
            f"examples sharing a {what} holds {max(map(len, found))}; give more data or a separate "
            "test set"
        )
    if dropped:
        logger.warning(
            "%d of %d pairs left out: their two sequences fell in different splits (sequences shared "
            "by many pairs keep every split free of the others' sequences only this way)",
            dropped,
            len(examples),
        )
    pick = {name: [examples[i] for i in sorted(indices)] for name, indices in chosen.items()}
    return Splits(train=pick["train"], validation=pick["validation"], test=pick["test"], dropped=dropped)
