"""Tiny randomly initialised stand-ins for the pretrained backbones the presets name, written to disk.

Nothing here reaches the Hub: each writer builds the vocabulary in code, saves a config, random weights
and the tokenizer files the real checkpoint has, so ``AutoTokenizer`` / ``AutoModel*`` ``from_pretrained``
of the folder work offline, with the same architecture and tokenizer class as the named checkpoint.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    AlbertConfig,
    AlbertTokenizer,
    AutoModel,
    BertConfig,
    BertTokenizer,
    DistilBertConfig,
    DistilBertTokenizer,
    PreTrainedConfig,
)

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS_TEXT = (
    "the a an is are was were be of and or not no to in on at with for from by as it this that he "
    "she they man woman child dog people person playing sitting running walking sleeping eating "
    "outside inside park street beach house music guitar ball patient history pain chest heart "
    "surgery procedure diagnosis normal blood pressure exam left right acute chronic"
)
_WORDS = _WORDS_TEXT.split()
# Rostlab/prot_bert's vocab.txt, in its order.
_PROTBERT_VOCAB = [*_SPECIAL, *"LAGVESIKRDTPNQFYMHCWXUBZO"]
_TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def _wordpiece_vocab() -> dict[str, int]:
    """Special tokens, whole words, and every letter/digit/punctuation mark alone and as a ``##`` piece,
    so any ASCII text tokenizes without [UNK]."""
    characters = string.ascii_lowercase + string.digits
    tokens = [*_SPECIAL, *string.punctuation, *characters, *(f"##{c}" for c in characters), *_WORDS]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def _save_random_model(config: PreTrainedConfig, directory: Path, *, seed: int) -> None:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        AutoModel.from_config(config).save_pretrained(directory)


def write_bert(directory: Path, *, seed: int = 0) -> Path:
    """A bert-base-uncased-shaped backbone (BertModel, lower-casing WordPiece BertTokenizer)."""
    tokenizer = BertTokenizer(vocab=_wordpiece_vocab(), do_lower_case=True, model_max_length=512)
    tokenizer.save_pretrained(directory)
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, **_TINY)
    _save_random_model(config, directory, seed=seed)
    return directory


def write_distilbert(directory: Path, *, seed: int = 0) -> Path:
    """A distilbert-base-uncased-shaped backbone (DistilBertModel, DistilBertTokenizer)."""
    tokenizer = DistilBertTokenizer(vocab=_wordpiece_vocab(), do_lower_case=True, model_max_length=512)
    tokenizer.save_pretrained(directory)
    config = DistilBertConfig(
        vocab_size=len(tokenizer), max_position_embeddings=512, dim=32, n_layers=2, n_heads=2, hidden_dim=64
    )
    _save_random_model(config, directory, seed=seed)
    return directory


def _unigram_vocab() -> list[tuple[str, float]]:
    """A small SentencePiece-style unigram vocabulary trained with ``tokenizers`` on a built-in corpus
    (English words and DNA), after ALBERT's special pieces in albert-base-v2's order."""
    specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    unigram = Tokenizer(models.Unigram())
    unigram.normalizer = normalizers.Lowercase()
    unigram.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁")
    corpus = [" ".join(_WORDS), *("acgt" * 4, "ggttgg ccaatt ggttggttgg", "tgcatgca gattaca")]
    trainer = trainers.UnigramTrainer(
        vocab_size=300,
        special_tokens=specials,
        unk_token="<unk>",
        initial_alphabet=list(string.ascii_lowercase + string.digits + string.punctuation),
        shrinking_factor=0.9,
    )
    unigram.train_from_iterator(corpus * 20, trainer=trainer)
    pieces = json.loads(unigram.to_str())["model"]["vocab"]
    return [(piece, float(score)) for piece, score in pieces]


def write_albert(directory: Path, *, seed: int = 0) -> Path:
    """An albert-base-v2-shaped backbone (AlbertModel, unigram AlbertTokenizer)."""
    tokenizer = AlbertTokenizer(vocab=_unigram_vocab(), do_lower_case=True, model_max_length=512)
    tokenizer.save_pretrained(directory)
    config = AlbertConfig(
        vocab_size=len(tokenizer),
        embedding_size=16,
        max_position_embeddings=512,
        num_hidden_groups=1,
        **_TINY,
    )
    _save_random_model(config, directory, seed=seed)
    return directory


def write_protbert(directory: Path, *, seed: int = 0) -> Path:
    """A Rostlab/prot_bert-shaped backbone: BertModel, and like that checkpoint only a ``vocab.txt``
    plus a ``tokenizer_config.json`` that keeps case (no tokenizer.json)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(_PROTBERT_VOCAB) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": False, "tokenizer_class": "BertTokenizer"}), encoding="utf-8"
    )
    config = BertConfig(vocab_size=len(_PROTBERT_VOCAB), max_position_embeddings=1024, **_TINY)
    _save_random_model(config, directory, seed=seed)
    return directory


# Keyed by the Hub id a preset names in its ``model`` field.
BACKBONE_WRITERS: dict[str, Callable[..., Path]] = {
    "bert-base-uncased": write_bert,
    "distilbert-base-uncased": write_distilbert,
    "albert-base-v2": write_albert,
    "Rostlab/prot_bert": write_protbert,
}


def write_backbone(model_name: str, directory: Path, *, seed: int = 0) -> Path:
    """The tiny stand-in for the Hub model ``model_name``, written to ``directory``."""
    try:
        writer = BACKBONE_WRITERS[model_name]
    except KeyError:
        raise ValueError(
            f"no tiny backbone for {model_name!r}; known: {', '.join(BACKBONE_WRITERS)}"
        ) from None
    return writer(directory, seed=seed)
