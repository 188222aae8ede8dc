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
        }


def _codes(sequence: str) -> np.ndarray:
    return _NUCLEOTIDE_CODES[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
