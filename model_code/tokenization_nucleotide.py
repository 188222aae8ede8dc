"""Nucleotide k-mer tokenizer (DNA and RNA) with the "both ends + whole-sequence composition" window policy.

Window policy. Sequences run from 200 to 38,000 nt, so one fixed window either cuts most of a long
sequence or pads short ones (and padding length leaks sequence length). The class signal of circRNA vs
lncRNA sits mostly at the two ends (back-splice junction vs transcription start / polyA) and in the
k-mer composition of the whole molecule, so every sequence, whatever its length, is encoded as:

* ``[CLS] head-k-mers [SEP] tail-k-mers [SEP]`` where the head is the first and the tail the last
  ``window_tokens`` k-mers (``window_tokens = (max_length - 3) // 2``); a sequence shorter than that
  gives its whole self as head and as tail. ``token_type_ids`` marks head (0) and tail (1) so the model
  counts tail positions from the 3' end;
* ``composition``: the frequencies of all ``4**composition_k`` k-mers over the WHOLE sequence, one
  fixed-length vector, so nothing between the two ends is lost.

The policy applies whether or not ``truncation`` is requested, and [CLS]/[SEP] are always added
(``add_special_tokens`` is ignored): this layout is what the model is trained on and reads.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
from transformers import AutoTokenizer, BatchEncoding, PreTrainedTokenizer

from .configuration_kmer import KmerTransformerConfig

NUCLEOTIDES = "ACGT"
SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
SPECIAL_TOKEN_ORDER = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_UNK_ID = SPECIAL_TOKEN_ORDER.index("[UNK]")
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


class NucleotideKmerTokenizer(PreTrainedTokenizer):
    """k-mer tokenizer whose vocabulary is the special tokens plus all 4**k k-mers; no vocab file."""

    vocab_files_names: dict[str, str] = {}
    model_input_names = ["input_ids", "token_type_ids", "attention_mask", "composition"]

    def __init__(
        self,
        *,
        k: int = 3,
        stride: int = 1,
        max_length: int = 131,
        composition_k: int = 4,
        **kwargs,
    ) -> None:
        for label, value in (("k", k), ("stride", stride), ("composition_k", composition_k)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 8:
                raise ValueError(f"{label} must be an integer from 1 to 8, got {value!r}")
        if stride > k:
            raise ValueError(f"stride ({stride}) must not exceed k ({k}): k-mers would skip nucleotides")
        max_length = kwargs.pop("model_max_length", max_length)
        if not isinstance(max_length, int) or max_length < 5:
            raise ValueError(f"max_length must be an integer of at least 5 tokens, got {max_length!r}")
        self.k = k
        self.kmer_stride = stride
        self.composition_k = composition_k
        kmers = ("".join(p) for p in itertools.product(NUCLEOTIDES, repeat=k))
        self._vocab = {token: i for i, token in enumerate(itertools.chain(SPECIAL_TOKEN_ORDER, kmers))}
        self._ids_to_tokens = {i: token for token, i in self._vocab.items()}
        for key, token in SPECIAL_TOKENS.items():
            kwargs.setdefault(key, token)
        kwargs.setdefault("mask_token", "[MASK]")
        super().__init__(
            k=k,
            stride=stride,
            max_length=max_length,
            composition_k=composition_k,
            model_max_length=max_length,
            **kwargs,
        )

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    @property
    def window_tokens(self) -> int:
        """k-mer tokens kept from each end for a budget of ``model_max_length`` tokens."""
        return (self.model_max_length - 3) // 2

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)

    def _kmers(self, sequence: str) -> list[str]:
        last_start = len(sequence) - self.k
        if last_start < 0:
            return [sequence]  # shorter than k: one token, which maps to [UNK]
        return [sequence[i : i + self.k] for i in range(0, last_start + 1, self.kmer_stride)]

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return self._kmers(normalise_sequence(text, name="the input sequence"))

    def _convert_token_to_id(self, token: str) -> int:
        # IUPAC ambiguity codes (N, R, Y, ...) never form a vocabulary k-mer: they read as [UNK].
        return self._vocab.get(token, _UNK_ID)

    def _convert_id_to_token(self, index: int) -> str:
        return self._ids_to_tokens.get(index, self.unk_token)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        return ()  # the vocabulary is rebuilt from k, which tokenizer_config.json holds

    def composition_vector(self, sequence: str) -> np.ndarray:
        """Frequencies of every ``composition_k``-mer in an already normalised sequence (sum 1, or 0s)."""
        k = self.composition_k
        codes = _NUCLEOTIDE_CODES[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
        if len(codes) < k:
            return np.zeros(4**k, dtype=np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)
        known = windows.max(axis=1) < 4  # k-mers holding an ambiguity code are not counted
        indices = windows[known].astype(np.int64) @ (4 ** np.arange(k - 1, -1, -1, dtype=np.int64))
        counts = np.bincount(indices, minlength=4**k)
        total = counts.sum()
        return (counts / max(total, 1)).astype(np.float32)

    def encode_sequence(self, text: object, *, name: str, max_length: int | None = None) -> dict:
        """One sequence under the window policy, unpadded (see the module docstring)."""
        sequence = normalise_sequence(text, name=name)
        budget = max_length if max_length is not None else self.model_max_length
        window = (budget - 3) // 2
        if window < 1:
            raise ValueError(f"max_length {budget} leaves no room for k-mers (need at least 5)")
        # Only the k-mers of the two windows are built: a 38,000 nt sequence costs no more than a short one.
        span = (window - 1) * self.kmer_stride + self.k
        kmer_count = max(len(sequence) - self.k, 0) // self.kmer_stride + 1
        tail_start = max(kmer_count - window, 0) * self.kmer_stride
        head = [self._convert_token_to_id(kmer) for kmer in self._kmers(sequence[:span])]
        tail = [self._convert_token_to_id(kmer) for kmer in self._kmers(sequence[tail_start:])]
        input_ids = [self.cls_token_id, *head, self.sep_token_id, *tail, self.sep_token_id]
        token_type_ids = [0] * (len(head) + 2) + [1] * (len(tail) + 1)
        return {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "composition": self.composition_vector(sequence),
        }

    def _encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        if text_pair is not None:
            raise ValueError("a nucleotide sequence input takes no text_pair: send one sequence per input")
        return_tensors = kwargs.get("return_tensors")
        max_length = kwargs.get("max_length")
        batched = isinstance(text, (list, tuple))
        texts = list(text) if batched else [text]
        encoded = [
            self.encode_sequence(t, name=f"input {number}" if batched else "the input", max_length=max_length)
            for number, t in enumerate(texts, start=1)
        ]
        batch = {key: [e[key] for e in encoded] for key in ("input_ids", "token_type_ids", "composition")}
        strategy = kwargs.get("padding_strategy")
        padding = strategy.value if strategy is not None else "do_not_pad"
        # Ragged batches cannot become tensors: pad them to the longest, as HF tokenizers do.
        if return_tensors is not None and batched and padding == "do_not_pad":
            padding = "longest"
        batch = self.pad(
            batch,
            padding=padding,
            max_length=max_length,
            pad_to_multiple_of=kwargs.get("pad_to_multiple_of"),
            padding_side=kwargs.get("padding_side"),
            return_attention_mask=kwargs.get("return_attention_mask"),
        )
        if kwargs.get("return_token_type_ids") is False:
            batch.pop("token_type_ids", None)
        if kwargs.get("return_length"):
            batch["length"] = [len(ids) for ids in batch["input_ids"]]
        if return_tensors is None:
            batch["composition"] = [vector.tolist() for vector in batch["composition"]]
        if not batched:
            batch = {key: value[0] for key, value in batch.items()}
        return BatchEncoding(batch, tensor_type=return_tensors, prepend_batch_axis=not batched)


AutoTokenizer.register(KmerTransformerConfig, tokenizer_class=NucleotideKmerTokenizer)
