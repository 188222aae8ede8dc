"""The tokenizers of the ONNX Runtime serving path, from a model dir's own files, with no transformers.

The cpu-onnx image carries neither torch nor transformers (transformers alone, with what it pulls in,
was most of that image's Python packages). Both tokenizer kinds our presets save are read here from the
files ``save_pretrained`` wrote, and encode exactly as the torch path's transformers tokenizers do
(tested id for id in tests/unit/model_code/test_serving_tokenizers.py, and every export's parity check
runs through this path):

* Hugging Face backbones (BERT, ALBERT, DistilBERT, ProtBert) save ``tokenizer.json``, the
  ``tokenizers`` library's own file, which transformers' tokenizer wraps; it is loaded with the same
  truncation (``longest_first`` to the model's ``max_length``) and padding (to the longest, with the
  pad token of ``tokenizer_config.json``) that transformers sets before each call. ProtBert's inputs
  first get its residue convention (:mod:`model_code.protein_residues`).
* The k-mer tokenizer has no vocabulary file: its settings (``k``, ``stride``, ``composition_k``) are in
  ``tokenizer_config.json`` and it encodes through :class:`~model_code.kmer_windows.KmerWindows`, the
  code the transformers tokenizer itself delegates to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from model_code.serving.payload import Item
from model_code.serving.scoring import ModelDirError
from model_code.tokenization.kmer_windows import PAD_ID, KmerWindows
from model_code.tokenization.protein_residues import protbert_residues

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
KMER_TOKENIZER_CLASS = "NucleotideKmerTokenizer"
PROTEIN_TOKENIZER_CLASS = "ProteinBertTokenizer"

Batch = dict[str, np.ndarray]


@dataclass(frozen=True, kw_only=True)
class KmerEncoder:
    """A batch of nucleotide sequences under the k-mer window policy, padded to the longest on the right."""

    windows: KmerWindows

    def __call__(self, items: Sequence[Item], *, max_length: int) -> Batch:
        encoded = [
            self.windows.encode(item, name=f"input {number}", max_length=max_length)
            for number, item in enumerate(items, start=1)
        ]
        width = max(len(e["input_ids"]) for e in encoded)
        input_ids = np.full((len(encoded), width), PAD_ID, dtype=np.int64)
        token_type_ids = np.zeros((len(encoded), width), dtype=np.int64)
        attention_mask = np.zeros((len(encoded), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            length = len(e["input_ids"])
            input_ids[row, :length] = e["input_ids"]
            token_type_ids[row, :length] = e["token_type_ids"]
            attention_mask[row, :length] = 1
        return {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "attention_mask": attention_mask,
            "composition": np.stack([e["composition"] for e in encoded]),
            "statistics": np.stack([e["statistics"] for e in encoded]),
        }


@dataclass(frozen=True, kw_only=True)
class TextEncoder:
    """A ``tokenizers`` tokenizer as transformers calls it with ``padding=True, truncation=True``."""

    tokenizer: Tokenizer
    pad_id: int
    pad_token: str
    truncation_side: str
    padding_side: str
    prepare: Callable[[object, str], str] | None = None

    def __call__(self, items: Sequence[Item], *, max_length: int) -> Batch:
        if self.prepare is not None:
            items = [_prepared(item, number, self.prepare) for number, item in enumerate(items, start=1)]
        tokenizer = self.tokenizer
        # Settings live on the (Rust) tokenizer object: set them on every call, as transformers does, so a
        # caller's max_length always applies.
        tokenizer.enable_truncation(
            max_length, stride=0, strategy="longest_first", direction=self.truncation_side
        )
        tokenizer.enable_padding(
            direction=self.padding_side, pad_id=self.pad_id, pad_type_id=0, pad_token=self.pad_token
        )
        encodings = tokenizer.encode_batch(list(items), add_special_tokens=True)
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        }


def _prepared(item: Item, number: int, prepare: Callable[[object, str], str]) -> Item:
    if isinstance(item, tuple):
        return (prepare(item[0], f"input {number}"), prepare(item[1], f"pair input {number}"))
    return prepare(item, f"input {number}")


def _protein(sequence: object, name: str) -> str:
    return protbert_residues(sequence, name=name)


SequenceEncoder = KmerEncoder | TextEncoder


def load_serving_tokenizer(model_dir: str | Path) -> SequenceEncoder:
    """The encoder for the model dir's saved tokenizer; a :class:`ModelDirError` naming a missing or
    unreadable file."""
    model_dir = Path(model_dir)
    config_path = model_dir / TOKENIZER_CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise ModelDirError(f"{config_path} is missing: save the tokenizer with the model") from None
    except (OSError, ValueError) as error:
        raise ModelDirError(f"{config_path} is not readable JSON: {error}") from None
    if config.get("tokenizer_class") == KMER_TOKENIZER_CLASS:
        try:
            settings = {key: config[key] for key in ("k", "stride", "composition_k") if key in config}
            windows = KmerWindows(**settings)
        except ValueError as error:
            raise ModelDirError(f"{config_path}: {error}") from None
        return KmerEncoder(windows=windows)
    path = model_dir / TOKENIZER_FILE
    if not path.is_file():
        raise ModelDirError(
            f"{path} is missing: the ONNX runtime serves Hugging Face tokenizers from their tokenizer.json "
            f"(tokenizer_class {config.get('tokenizer_class')!r})"
        )
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust library raises plain Exception for an unreadable file
        raise ModelDirError(f"{path} could not be loaded: {error}") from None
    pad_token = _token(config.get("pad_token", "[PAD]"))
    pad_id = tokenizer.token_to_id(pad_token)
    if pad_id is None:
        raise ModelDirError(f"{config_path}: pad token {pad_token!r} is not in {TOKENIZER_FILE}'s vocabulary")
    prepare = _protein if config.get("tokenizer_class") == PROTEIN_TOKENIZER_CLASS else None
    return TextEncoder(
        tokenizer=tokenizer,
        pad_id=pad_id,
        pad_token=pad_token,
        truncation_side=config.get("truncation_side", "right"),
        padding_side=config.get("padding_side", "right"),
        prepare=prepare,
    )


def _token(value: object) -> str:
    """A special token as tokenizer_config.json stores it: a string, or an AddedToken dict."""
    return value["content"] if isinstance(value, dict) else str(value)
