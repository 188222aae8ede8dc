"""The whole-molecule reading-frame statistics the k-mer tokenizer gives the model (``statistics``)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from model_code.tokenization.kmer_windows import STATISTICS_NAMES, STATISTICS_SIZE, KmerWindows
from model_code.tokenization.nucleotide import NucleotideKmerTokenizer

STOPS = {"TAA", "TAG", "TGA"}


def by_hand(sequence: str) -> dict[str, float]:
    """The same statistics from codon strings, the slow obvious way."""
    longest_open = longest_orf = 0
    densities = []
    for frame in range(3):
        codons = [sequence[i : i + 3] for i in range(frame, len(sequence) - 2, 3)]
        if not codons:
            densities.append(0.0)
            continue
        densities.append(sum(codon in STOPS for codon in codons) / len(codons))
        run = 0
        for codon in codons:
            run = 0 if codon in STOPS else run + 1
            longest_open = max(longest_open, 3 * run)
        for start, codon in enumerate(codons):
            if codon == "ATG":
                end = next((j for j in range(start, len(codons)) if codons[j] in STOPS), len(codons))
                longest_orf = max(longest_orf, 3 * (end - start))
    asymmetry = []
    for base in "ACGT":
        at = [sequence[position::3].count(base) for position in range(3)]
        asymmetry.append(min(at) / max(max(at), 1))
    values = [
        math.log1p(len(sequence)) / 10,
        math.log1p(longest_open) / 10,
        longest_open / len(sequence),
        math.log1p(longest_orf) / 10,
        longest_orf / len(sequence),
        *(10 * d for d in sorted(densities)),
        *asymmetry,
    ]
    return dict(zip(STATISTICS_NAMES, values, strict=True))


def statistics(sequence: str) -> dict[str, float]:
    values = KmerWindows().statistics(sequence)
    assert values.shape == (STATISTICS_SIZE,) and values.dtype == np.float32
    return dict(zip(STATISTICS_NAMES, values.tolist(), strict=True))


def test_a_hand_checked_sequence() -> None:
    # Frame 0: ATG AAA TTT TAG CCC (an ATG...TAG ORF of 9 nt, then 3 nt open); frame 1: TGA AAT TTT AGC
    # (9 nt open after the stop); frame 2: GAA ATT TTA GCC (12 nt open, no stop).
    got = statistics("ATGAAATTTTAGCCC")
    assert got["log_longest_open_stretch"] == pytest.approx(math.log1p(12) / 10)
    assert got["longest_open_stretch_fraction"] == pytest.approx(12 / 15)
    assert got["log_longest_orf"] == pytest.approx(math.log1p(9) / 10)
    assert got["longest_orf_fraction"] == pytest.approx(9 / 15)
    # Stops per codon: frame 2 0/4, frame 0 1/5, frame 1 1/4; sorted and scaled by 10.
    assert [got["stop_density_min"], got["stop_density_mid"], got["stop_density_max"]] == pytest.approx(
        [0.0, 2.0, 2.5]
    )
    # A falls on codon positions 1, 2, 3 twice, twice and once; C once on each; G never on the first.
    assert got["position_asymmetry_a"] == pytest.approx(1 / 2)
    assert got["position_asymmetry_c"] == pytest.approx(1.0)
    assert got["position_asymmetry_g"] == pytest.approx(0.0)
    assert got["log_length"] == pytest.approx(math.log1p(15) / 10)


def test_an_orf_without_a_stop_runs_to_the_end() -> None:
    got = statistics("CCATGGCC")  # frame 2: ATG GCC, no stop
    assert got["log_longest_orf"] == pytest.approx(math.log1p(6) / 10)
    assert got["longest_open_stretch_fraction"] == pytest.approx(6 / 8)


@pytest.mark.parametrize("length", [3, 4, 5, 17, 60, 301, 2000])
def test_random_sequences_match_the_count_by_hand(length: int) -> None:
    rng = random.Random(length)
    sequence = "".join(rng.choice("ACGT") for _ in range(length))
    assert statistics(sequence) == pytest.approx(by_hand(sequence), abs=1e-6)


def test_codons_with_ambiguity_codes_are_neither_start_nor_stop() -> None:
    got = statistics("ATGTNATAA")  # frame 0: ATG TNA TAA, an ORF of 6 nt closed by TAA
    assert got["log_longest_orf"] == pytest.approx(math.log1p(6) / 10)
    assert statistics("NTGTAANNN")["log_longest_orf"] == 0.0


def test_sequences_too_short_for_a_codon_have_only_a_length() -> None:
    got = statistics("AC")
    assert got["log_length"] == pytest.approx(math.log1p(2) / 10)
    assert all(value == 0.0 for name, value in got.items() if name != "log_length")


def test_the_tokenizer_emits_the_statistics_of_the_whole_sequence() -> None:
    tokenizer = NucleotideKmerTokenizer(k=3, max_length=21)
    sequence = "ATGAAATTTTAGCCC" + "GC" * 500  # far longer than the 9 k-mers of each window
    single = tokenizer(sequence.lower())
    assert single["statistics"] == pytest.approx(list(by_hand(sequence).values()), abs=1e-6)
    batch = tokenizer([sequence, "ACGTAC"], padding=True, return_tensors="pt")
    assert tuple(batch["statistics"].shape) == (2, STATISTICS_SIZE)
    np.testing.assert_allclose(batch["statistics"][0].numpy(), single["statistics"], atol=1e-7)
