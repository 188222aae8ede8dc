"""stacks/lambda_sizing.py's parameter counts are the presets' real architectures', computed on torch's meta
device (no weights, no download): the Hub configurations of the backbones, written out here."""

from __future__ import annotations

import pytest
import torch
from transformers import AlbertConfig, AutoModelForSequenceClassification, BertConfig, DistilBertConfig

from model_code.modeling.factory import build_model
from model_code.presets import get_preset
from stacks.lambda_sizing import PRESET_PARAMETERS

# The published config.json of each backbone (the fields that set the parameter count).
BACKBONES = {
    "protein-localization": BertConfig(
        vocab_size=30,
        hidden_size=1024,
        num_hidden_layers=30,
        num_attention_heads=16,
        intermediate_size=4096,
        max_position_embeddings=40000,
        num_labels=10,
    ),
    "aptamer-pairs": AlbertConfig(
        vocab_size=30000,
        embedding_size=128,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        num_labels=2,
    ),
    "entailment": BertConfig(num_labels=3),  # bert-base-uncased is BertConfig's default
    "medical-specialty": DistilBertConfig(num_labels=20),  # distilbert-base-uncased likewise
}


def parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@pytest.mark.parametrize("preset", sorted(BACKBONES))
def test_the_pretrained_presets_sizes_are_their_backbones(preset):
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(BACKBONES[preset])
    assert PRESET_PARAMETERS[preset] == parameters(model)


def test_the_kmer_presets_size_is_its_model_at_the_presets_settings():
    preset = get_preset("circrna")
    with torch.device("meta"):
        model = build_model(preset, labels=list(preset.labels))
    assert PRESET_PARAMETERS["circrna"] == parameters(model)
