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

import numpy as np
from transformers import AutoTokenizer, BatchEncoding, PreTrainedTokenizer

from model_code.modeling.kmer_config import KmerTransformerConfig
from model_code.tokenization.kmer_windows import NUCLEOTIDES, UNK_ID, KmerWindows, normalise_sequence

__all__ = ["NUCLEOTIDES", "NucleotideKmerTokenizer", "normalise_sequence"]
SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}


class NucleotideKmerTokenizer(PreTrainedTokenizer):
    """k-mer tokenizer whose vocabulary is the special tokens plus all 4**k k-mers; no vocab file."""

    vocab_files_names: dict[str, str] = {}
    model_input_names = ["input_ids", "token_type_ids", "attention_mask", "composition", "statistics"]

    def __init__(
        self,
        *,
        k: int = 3,
        stride: int = 1,
        max_length: int = 131,
        composition_k: int = 4,
        **kwargs,
    ) -> None:
        self.windows = KmerWindows(k=k, stride=stride, composition_k=composition_k)
        max_length = kwargs.pop("model_max_length", max_length)
        if not isinstance(max_length, int) or max_length < 5:
            raise ValueError(f"max_length must be an integer of at least 5 tokens, got {max_length!r}")
        self.k = k
        self.kmer_stride = stride
        self.composition_k = composition_k
        self._vocab = self.windows.vocabulary
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

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return self.windows.kmers(normalise_sequence(text, name="the input sequence"))

    def _convert_token_to_id(self, token: str) -> int:
        # IUPAC ambiguity codes (N, R, Y, ...) never form a vocabulary k-mer: they read as [UNK].
        return self._vocab.get(token, UNK_ID)

    def _convert_id_to_token(self, index: int) -> str:
        return self._ids_to_tokens.get(index, self.unk_token)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        return ()  # the vocabulary is rebuilt from k, which tokenizer_config.json holds

    def composition_vector(self, sequence: str) -> np.ndarray:
        """Frequencies of every ``composition_k``-mer in an already normalised sequence (sum 1, or 0s)."""
        return self.windows.composition(sequence)

    def encode_sequence(self, text: object, *, name: str, max_length: int | None = None) -> dict:
        """One sequence under the window policy, unpadded (see the module docstring)."""
        budget = max_length if max_length is not None else self.model_max_length
        return self.windows.encode(text, name=name, max_length=budget)

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
        batch = {
            key: [e[key] for e in encoded]
            for key in ("input_ids", "token_type_ids", "composition", "statistics")
        }
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
            for key in ("composition", "statistics"):
                batch[key] = [vector.tolist() for vector in batch[key]]
        if not batched:
            batch = {key: value[0] for key, value in batch.items()}
        return BatchEncoding(batch, tensor_type=return_tensors, prepend_batch_axis=not batched)


AutoTokenizer.register(KmerTransformerConfig, tokenizer_class=NucleotideKmerTokenizer)
