"""The k-mer window policy as plain numpy, importing neither transformers nor torch.

:class:`~model_code.tokenization_nucleotide.NucleotideKmerTokenizer` (training, the torch path) and the
ONNX Runtime serving path (:mod:`model_code.serving_tokenizers`, in an image without transformers) both
encode through :class:`KmerWindows`, so the two paths cannot drift apart. The policy itself is described
in :mod:`model_code.tokenization_nucleotide`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

NUCLEOTIDES = "ACGT"
SPECIAL_TOKEN_ORDER = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID = (SPECIAL_TOKEN_ORDER.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
# The k-mers follow the special tokens in the vocabulary, in itertools.product order over ACGT, so a
# k-mer's id is this offset plus its base-4 number.
FIRST_KMER_ID = len(SPECIAL_TOKEN_ORDER)
# FASTA header lines are dropped whole; everything else in the text is sequence.
_FASTA_HEADER = re.compile(r"^[>;].*$", re.MULTILINE)
_WHITESPACE = re.compile(r"\s+")
_NOT_A_LETTER = re.compile(r"[^A-Z]")
# Stop codons (TAA, TAG, TGA) and the start codon ATG as base-4 numbers over ACGT.
_STOP_CODONS = (0b110000, 0b110010, 0b111000)
_START_CODON = 0b001110
# Lengths are given as log1p(nt) / _LOG_SCALE, so a 38,000 nt sequence is about 1.
_LOG_SCALE = 10.0
STATISTICS_NAMES = (
    "log_length",
    "log_longest_open_stretch",
    "longest_open_stretch_fraction",
    "log_longest_orf",
    "longest_orf_fraction",
    "stop_density_min",
    "stop_density_mid",
    "stop_density_max",
    "position_asymmetry_a",
    "position_asymmetry_c",
    "position_asymmetry_g",
    "position_asymmetry_t",
)
STATISTICS_SIZE = len(STATISTICS_NAMES)
# ASCII byte -> 0..3 for A, C, G, T; 4 for every other letter (ambiguity codes).
_NUCLEOTIDE_CODES = np.full(256, 4, dtype=np.uint8)
for _code, _letter in enumerate(NUCLEOTIDES):
    _NUCLEOTIDE_CODES[ord(_letter)] = _code


def normalise_sequence(text: object, *, name: str) -> str:
    """Upper-case, U read as T, FASTA headers and whitespace dropped; any non-letter is a ValueError."""
    if not isinstance(text, str):
        raise ValueError(f"{name}: expected a nucleotide sequence string, got {type(text).__name__}")
    sequence = _WHITESPACE.sub("", _FASTA_HEADER.sub("", text)).upper().replace("U", "T")
    bad = _NOT_A_LETTER.search(sequence)
    if bad is not None:
        raise ValueError(
            f"{name}: character {bad.group()!r} at position {bad.start() + 1} is not a nucleotide letter "
            "(expected A, C, G, T/U or an IUPAC ambiguity code)"
        )
    if not sequence:
        raise ValueError(f"{name}: the sequence is empty")
    return sequence


@dataclass(frozen=True, kw_only=True)
class KmerWindows:
    """k-mers of ``k`` nucleotides every ``stride``, and ``composition_k``-mer frequencies."""

    k: int = 3
    stride: int = 1
    composition_k: int = 4

    def __post_init__(self) -> None:
        for label, value in (("k", self.k), ("stride", self.stride), ("composition_k", self.composition_k)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 8:
                raise ValueError(f"{label} must be an integer from 1 to 8, got {value!r}")
        if self.stride > self.k:
            raise ValueError(
                f"stride ({self.stride}) must not exceed k ({self.k}): k-mers would skip nucleotides"
            )

    @cached_property
    def vocabulary(self) -> dict[str, int]:
        kmers = ("".join(p) for p in itertools.product(NUCLEOTIDES, repeat=self.k))
        return {token: i for i, token in enumerate(itertools.chain(SPECIAL_TOKEN_ORDER, kmers))}

    def kmers(self, sequence: str) -> list[str]:
        """The k-mer strings of a normalised sequence; one shorter than k is one token (read as [UNK])."""
        last_start = len(sequence) - self.k
        if last_start < 0:
            return [sequence]
        return [sequence[i : i + self.k] for i in range(0, last_start + 1, self.stride)]

    def _ids(self, codes: np.ndarray) -> list[int]:
        """Vocabulary ids of the k-mers of ``codes`` (0..3 per nucleotide, 4 for an ambiguity code)."""
        if len(codes) < self.k:
            return [UNK_ID]
        windows = np.lib.stride_tricks.sliding_window_view(codes, self.k)[:: self.stride]
        numbers = windows.astype(np.int64) @ (4 ** np.arange(self.k - 1, -1, -1, dtype=np.int64))
        # IUPAC ambiguity codes (N, R, Y, ...) never form a vocabulary k-mer: they read as [UNK].
        return np.where(windows.max(axis=1) < 4, numbers + FIRST_KMER_ID, UNK_ID).tolist()

    def _composition(self, codes: np.ndarray) -> np.ndarray:
        k = self.composition_k
        if len(codes) < k:
            return np.zeros(4**k, dtype=np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)
        known = windows.max(axis=1) < 4  # k-mers holding an ambiguity code are not counted
        indices = windows[known].astype(np.int64) @ (4 ** np.arange(k - 1, -1, -1, dtype=np.int64))
        counts = np.bincount(indices, minlength=4**k)
        return (counts / max(counts.sum(), 1)).astype(np.float32)

    def composition(self, sequence: str) -> np.ndarray:
        """Frequencies of every ``composition_k``-mer in a normalised sequence (sum 1, or all 0s)."""
        return self._composition(_codes(sequence))

    def statistics(self, sequence: str) -> np.ndarray:
        """The whole-molecule reading-frame statistics of a normalised sequence (see
        :func:`frame_statistics`)."""
        return frame_statistics(_codes(sequence))

    def encode(self, text: object, *, name: str, max_length: int) -> dict[str, object]:
        """One sequence as ``[CLS] head [SEP] tail [SEP]`` plus its composition, unpadded."""
        sequence = normalise_sequence(text, name=name)
        window = (max_length - 3) // 2
        if window < 1:
            raise ValueError(f"max_length {max_length} leaves no room for k-mers (need at least 5)")
        codes = _codes(sequence)
        # Only the k-mers of the two windows are built: a 38,000 nt sequence costs no more than a short one.
        span = (window - 1) * self.stride + self.k
        kmer_count = max(len(sequence) - self.k, 0) // self.stride + 1
        tail_start = max(kmer_count - window, 0) * self.stride
        head = self._ids(codes[:span])
        tail = self._ids(codes[tail_start:])
        return {
            "input_ids": [CLS_ID, *head, SEP_ID, *tail, SEP_ID],
            "token_type_ids": [0] * (len(head) + 2) + [1] * (len(tail) + 1),
            "composition": self._composition(codes),
            "statistics": frame_statistics(codes),
        }


def _codes(sequence: str) -> np.ndarray:
    return _NUCLEOTIDE_CODES[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]


def frame_statistics(codes: np.ndarray) -> np.ndarray:
    """Reading-frame statistics of the whole molecule, ``STATISTICS_SIZE`` values of order 1.

    circRNAs are mostly spliced from protein-coding exons and lncRNAs are by definition non-coding, so
    whether a sequence reads like coding sequence separates them better than any window of it: the
    longest stretch free of stop codons in any of the three forward frames, the longest ATG-started
    open reading frame, the stop-codon density of each frame (sorted, the frame being unknown) and how
    unevenly each nucleotide falls on the three codon positions (coding sequence's period-3 bias, as
    Fickett's TESTCODE measures it). Linear in the sequence length; codons holding an ambiguity code
    count as neither start nor stop.
    """
    length = len(codes)
    values = np.zeros(STATISTICS_SIZE, dtype=np.float32)
    values[0] = np.log1p(length) / _LOG_SCALE
    if length < 3:
        return values
    # Few whole-array operations: this runs for every sequence served, most of them a few hundred nt.
    first, second, third = (codes[offset : length - 2 + offset].astype(np.int16) for offset in range(3))
    known = (first < 4) & (second < 4) & (third < 4)
    numbers = np.where(known, first * 16 + second * 4 + third, -1)
    stop = (numbers == _STOP_CODONS[0]) | (numbers == _STOP_CODONS[1]) | (numbers == _STOP_CODONS[2])
    start = numbers == _START_CODON
    longest_open = longest_orf = 0
    densities = []
    for frame in range(3):
        frame_stop, frame_start = stop[frame::3], start[frame::3]
        codons = len(frame_stop)
        if codons == 0:
            densities.append(0.0)
            continue
        stops = np.flatnonzero(frame_stop)
        densities.append(len(stops) / codons)
        bounds = np.concatenate([[-1], stops, [codons]])
        longest_open = max(longest_open, int((np.diff(bounds) - 1).max()) * 3)
        starts = np.flatnonzero(frame_start)
        if len(starts):
            # An ORF runs from its ATG to the next stop in frame (or to the end of the sequence).
            following = np.searchsorted(stops, starts)
            ends = np.append(stops, codons)[following]
            longest_orf = max(longest_orf, int((ends - starts).max()) * 3)
    values[1] = np.log1p(longest_open) / _LOG_SCALE
    values[2] = longest_open / length
    values[3] = np.log1p(longest_orf) / _LOG_SCALE
    values[4] = longest_orf / length
    values[5:8] = np.sort(np.asarray(densities, dtype=np.float32)) * 10.0
    # Each nucleotide (ambiguity codes in a fifth column) counted on each of the three codon positions.
    at = np.bincount(np.arange(length) % 3 * 5 + codes, minlength=15).reshape(3, 5)[:, :4]
    values[8:12] = at.min(axis=0) / np.maximum(at.max(axis=0), 1)
    return values
