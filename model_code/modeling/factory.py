"""Build the tokenizer and the sequence-classification model a preset names.

``backbone`` replaces the preset's model name: a local folder (tests, offline runs, a model trained
earlier) or another Hub id. Without it, pretrained backbones load by name, which only SageMaker can do
(the Hub is reachable there). The k-mer transformer is built fresh from the preset's ``KmerSettings``
unless ``backbone`` points at a saved one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from model_code.modeling.kmer import KmerTransformerConfig, KmerTransformerForSequenceClassification
from model_code.presets import KmerSettings, Preset, TokenizerKind
from model_code.tokenization.kmer_windows import STATISTICS_SIZE
from model_code.tokenization.nucleotide import NucleotideKmerTokenizer
from model_code.tokenization.protein import ProteinBertTokenizer


def build_tokenizer(preset: Preset, *, backbone: str | Path | None = None) -> PreTrainedTokenizerBase:
    """The preset's tokenizer; its ``model_max_length`` is the preset's window (``max_length``)."""
    if preset.kmer is not None and backbone is None:
        return _kmer_tokenizer(preset.kmer, max_length=preset.max_length)
    source = str(backbone if backbone is not None else preset.model)
    if preset.tokenizer is TokenizerKind.PROTEIN:
        return ProteinBertTokenizer.from_pretrained(source, model_max_length=preset.max_length)
    return AutoTokenizer.from_pretrained(source, model_max_length=preset.max_length)


def build_model(
    preset: Preset,
    *,
    labels: Sequence[str],
    backbone: str | Path | None = None,
    class_weights: Sequence[float] | None = None,
) -> PreTrainedModel:
    """A classifier over ``labels`` (``config.id2label`` / ``label2id``), with ``config.class_weights``
    set when given: the k-mer model weights its loss by it, and for pretrained backbones, whose heads
    compute an unweighted loss, it records the weights the trainer's loss applies."""
    labels = list(labels)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"a classifier needs at least 2 distinct labels, got {labels}")
    if class_weights is not None:
        class_weights = [float(weight) for weight in class_weights]
        if len(class_weights) != len(labels) or any(not weight > 0 for weight in class_weights):
            raise ValueError(
                f"class_weights must be {len(labels)} positive numbers (one per label), got {class_weights}"
            )
    label_config = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {label: index for index, label in enumerate(labels)},
        "class_weights": class_weights,
    }
    if preset.kmer is not None and backbone is None:
        tokenizer = _kmer_tokenizer(preset.kmer, max_length=preset.max_length)
        config = KmerTransformerConfig(
            **_kmer_config(preset.kmer, tokenizer, preset.max_length), **label_config
        )
        return KmerTransformerForSequenceClassification(config)
    source = str(backbone if backbone is not None else preset.model)
    config = AutoConfig.from_pretrained(source, **label_config)
    # from_pretrained drops keyword arguments its config class does not declare.
    config.class_weights = class_weights
    # A checkpoint that already has a head for other labels (e.g. another task's classifier) gets a
    # fresh head of the right size instead of a shape error.
    return AutoModelForSequenceClassification.from_pretrained(
        source, config=config, ignore_mismatched_sizes=True
    )


def _kmer_tokenizer(settings: KmerSettings, *, max_length: int) -> NucleotideKmerTokenizer:
    return NucleotideKmerTokenizer(
        k=settings.k, stride=settings.stride, max_length=max_length, composition_k=settings.composition_k
    )


def _kmer_config(settings: KmerSettings, tokenizer: NucleotideKmerTokenizer, max_length: int) -> dict:
    return {
        "vocab_size": tokenizer.vocab_size,
        "pad_token_id": tokenizer.pad_token_id,
        "k": settings.k,
        "hidden_size": settings.hidden_size,
        "num_hidden_layers": settings.num_hidden_layers,
        "num_attention_heads": settings.num_attention_heads,
        "intermediate_size": settings.intermediate_size,
        "conv_kernel_size": settings.conv_kernel_size,
        "max_position_embeddings": max_length,
        "composition_size": 4**settings.composition_k,
        "composition_hidden_size": settings.composition_hidden_size,
        "statistics_size": STATISTICS_SIZE if settings.statistics_hidden_size else 0,
        "statistics_hidden_size": settings.statistics_hidden_size,
        "head_hidden_size": settings.head_hidden_size,
        "hidden_dropout_prob": settings.hidden_dropout_prob,
        "classifier_dropout": settings.classifier_dropout,
    }
