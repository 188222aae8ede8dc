"""ProtBert's input convention inside a tokenizer class, so it survives save_pretrained/from_pretrained.

Rostlab/prot_bert was pre-trained on upper-case residues separated by spaces, with the rare or
ambiguous amino acids U, Z, O and B replaced by X (:mod:`model_code.protein_residues`). Callers send
plain sequences ("MKTAYIAK..."); this subclass of the backbone's BertTokenizer applies that convention
in its own encoding path (every ``__call__``, ``encode`` and ``tokenize`` goes through
``_encode_plus``) and rejects anything that is not an amino-acid letter. Its name is written to
``tokenizer_config.json``, and importing this module registers it with ``AutoTokenizer``, so a saved
protein tokenizer reloads as this class.
"""

from __future__ import annotations

from transformers import AutoTokenizer, BatchEncoding, BertTokenizer

from model_code.tokenization.protein_residues import protbert_residues

__all__ = ["ProteinBertTokenizer", "protbert_residues"]


class ProteinBertTokenizer(BertTokenizer):
    """BertTokenizer over ProtBert's vocabulary that takes raw protein sequences."""

    def _encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        if kwargs.get("is_split_into_words"):
            raise ValueError("a protein tokenizer takes whole sequences, not pre-split words")
        return super()._encode_plus(_residues(text, "input"), _residues(text_pair, "pair input"), **kwargs)


def _residues(text: object, name: str) -> object:
    if text is None:
        return None
    if isinstance(text, (list, tuple)):
        return [protbert_residues(item, name=f"{name} {number}") for number, item in enumerate(text, start=1)]
    return protbert_residues(text, name=f"the {name}")


# A string key, not a config class: the model's config is plain BertConfig, whose tokenizer mapping must
# stay BertTokenizer for text models. Registering by name only lets AutoTokenizer resolve the
# "tokenizer_class" that save_pretrained writes.
AutoTokenizer.register("ProteinBertTokenizer", tokenizer_class=ProteinBertTokenizer)
