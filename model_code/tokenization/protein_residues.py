"""ProtBert's input convention, importing neither transformers nor torch.

Rostlab/prot_bert was pre-trained on upper-case residues separated by spaces, with the rare or
ambiguous amino acids U, Z, O and B replaced by X. The torch path's tokenizer
(:mod:`model_code.tokenization_protein`) and the ONNX Runtime serving path
(:mod:`model_code.serving_tokenizers`) both apply it through :func:`protbert_residues`.
"""

from __future__ import annotations

import re

from model_code.presets import PROTEIN_ALPHABET

_RARE_RESIDUES = re.compile("[UZOB]")
_WHITESPACE = re.compile(r"\s+")


def protbert_residues(sequence: object, *, name: str) -> str:
    """``sequence`` as ProtBert reads it: upper case, U/Z/O/B as X, one space between residues."""
    if not isinstance(sequence, str):
        raise ValueError(f"{name}: expected a protein sequence string, got {type(sequence).__name__}")
    residues = _WHITESPACE.sub("", sequence).upper()
    if not residues:
        raise ValueError(f"{name}: the protein sequence is empty")
    for position, char in enumerate(residues, start=1):
        if char not in PROTEIN_ALPHABET:
            raise ValueError(
                f"{name}: character {char!r} at position {position} is not an amino-acid letter "
                f"(expected one of {PROTEIN_ALPHABET})"
            )
    return " ".join(_RARE_RESIDUES.sub("X", residues))
