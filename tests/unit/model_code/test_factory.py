from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.modeling_outputs import SequenceClassifierOutput

from model_code.modeling.factory import build_model, build_tokenizer
from model_code.modeling.kmer import KmerTransformerForSequenceClassification
from model_code.presets import PRESETS, get_preset
from model_code.tokenization.nucleotide import NucleotideKmerTokenizer
from model_code.tokenization.protein import ProteinBertTokenizer

INPUTS = {
    "circrna": (["ACGTTGCAAGGTAAGT" * 30, "TTATAAAGCGC" * 3], None),
    "protein-localization": (["MKKLLFAIPLVVPF", "mlrrslrafrUZ" * 20], None),
    "aptamer-pairs": (["GGTTGGACGTACGT", "ACGTAC"], ["ACGTACGTAAA", "GGTTGGTGTGGTTGG"]),
    "entailment": (
        ["A man is playing a guitar in the park.", "Two dogs run."],
        ["A man plays.", "Cats sleep."],
    ),
    "medical-specialty": (["Chest pain and dyspnea; echocardiogram ordered. " * 40, "Knee fracture."], None),
}
TOKENIZER_CLASSES = {
    "circrna": NucleotideKmerTokenizer,
    "protein-localization": ProteinBertTokenizer,
    "aptamer-pairs": AutoTokenizer,  # the backbone's own class, checked by name below
    "entailment": AutoTokenizer,
    "medical-specialty": AutoTokenizer,
}
OWN_TOKENIZER_NAMES = {
    "aptamer-pairs": "AlbertTokenizer",
    "entailment": "BertTokenizer",
    "medical-specialty": "DistilBertTokenizer",
}
MODEL_TYPES = {
    "circrna": "kmer_transformer",
    "protein-localization": "bert",
    "aptamer-pairs": "albert",
    "entailment": "bert",
    "medical-specialty": "distilbert",
}


def backbone_for(preset, tiny_backbone):
    return None if preset.kmer is not None else tiny_backbone(preset.model)


def labels_for(preset):
    return list(preset.labels or ("Cardiology", "Orthopedic", "Other"))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_runs_tokenizer_then_model_and_round_trips_through_auto_classes(
    name, tiny_backbone, tmp_path
):
    preset = get_preset(name)
    backbone = backbone_for(preset, tiny_backbone)
    labels = labels_for(preset)
    tokenizer = build_tokenizer(preset, backbone=backbone)
    model = build_model(preset, labels=labels, backbone=backbone).eval()
    if name in OWN_TOKENIZER_NAMES:
        assert type(tokenizer).__name__ == OWN_TOKENIZER_NAMES[name]
    else:
        assert isinstance(tokenizer, TOKENIZER_CLASSES[name])
    assert model.config.model_type == MODEL_TYPES[name]
    assert model.config.id2label == dict(enumerate(labels))
    assert model.config.label2id == {label: i for i, label in enumerate(labels)}
    assert tokenizer.model_max_length == preset.max_length

    texts, pairs = INPUTS[name]
    encoded = tokenizer(texts, pairs, padding=True, truncation=True, return_tensors="pt")
    assert encoded["input_ids"].shape[1] <= preset.max_length
    with torch.no_grad():
        output = model(**encoded)
    assert isinstance(output, SequenceClassifierOutput)
    assert output.logits.shape == (2, len(labels))

    # Predictions do not depend on what else shares the batch (padding is masked out).
    alone = tokenizer(texts[1:], pairs[1:] if pairs else None, truncation=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**alone).logits[0], output.logits[1], atol=1e-4, rtol=1e-4)

    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    loaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    loaded_model = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded_tokenizer) is type(tokenizer)
    assert loaded_model.config.id2label == dict(enumerate(labels))
    reloaded = loaded_tokenizer(texts, pairs, padding=True, truncation=True, return_tensors="pt")
    assert reloaded.keys() == encoded.keys()
    for key in encoded:
        torch.testing.assert_close(reloaded[key], encoded[key])
    with torch.no_grad():
        torch.testing.assert_close(loaded_model(**reloaded).logits, output.logits)


def test_circrna_model_is_built_from_the_preset_kmer_settings():
    preset = get_preset("circrna")
    assert preset.kmer is not None
    tokenizer = build_tokenizer(preset)
    model = build_model(preset, labels=preset.labels)
    assert isinstance(model, KmerTransformerForSequenceClassification)
    assert (tokenizer.k, tokenizer.kmer_stride, tokenizer.composition_k) == (
        preset.kmer.k,
        preset.kmer.stride,
        preset.kmer.composition_k,
    )
    config = model.config
    assert config.vocab_size == tokenizer.vocab_size and config.pad_token_id == tokenizer.pad_token_id
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (
        preset.kmer.hidden_size,
        preset.kmer.num_hidden_layers,
        preset.kmer.num_attention_heads,
    )
    assert config.composition_size == 4**preset.kmer.composition_k


def test_class_weights_are_recorded_and_the_kmer_loss_uses_them():
    preset = get_preset("circrna")
    tokenizer = build_tokenizer(preset)
    encoded = tokenizer(["ACGTACGTAC" * 5, "GGGCCCAT" * 5], padding=True, return_tensors="pt")
    labels = torch.tensor([0, 0])
    torch.manual_seed(0)
    plain = build_model(preset, labels=preset.labels).eval()
    weighted = build_model(preset, labels=preset.labels, class_weights=[3.0, 1.0]).eval()
    weighted.load_state_dict(plain.state_dict())
    assert weighted.config.class_weights == [3.0, 1.0]
    with torch.no_grad():
        # Every target has weight 3, so the weighted mean equals the plain mean.
        torch.testing.assert_close(
            weighted(**encoded, labels=labels).loss, plain(**encoded, labels=labels).loss
        )
        mixed = torch.tensor([0, 1])
        assert not torch.isclose(weighted(**encoded, labels=mixed).loss, plain(**encoded, labels=mixed).loss)


def test_class_weights_travel_with_a_pretrained_backbone(tiny_backbone, tmp_path):
    preset = get_preset("medical-specialty")
    model = build_model(
        preset, labels=["a", "b"], backbone=tiny_backbone(preset.model), class_weights=[0.5, 2]
    )
    model.save_pretrained(tmp_path)
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path).config.class_weights == [0.5, 2.0]


def test_a_checkpoint_with_another_head_gets_a_fresh_head_for_these_labels(tiny_backbone, tmp_path):
    preset = get_preset("entailment")
    build_model(preset, labels=["x", "y"], backbone=tiny_backbone(preset.model)).save_pretrained(tmp_path)
    model = build_model(preset, labels=list(preset.labels), backbone=tmp_path)
    assert model.classifier.out_features == 3
    assert model.config.id2label == dict(enumerate(preset.labels))


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"labels": ["only"]}, "at least 2 distinct labels"),
        ({"labels": ["a", "a"]}, "at least 2 distinct labels"),
        ({"labels": ["a", "b"], "class_weights": [1.0]}, "2 positive numbers"),
        ({"labels": ["a", "b"], "class_weights": [1.0, 0.0]}, "2 positive numbers"),
    ],
)
def test_bad_labels_or_weights_are_rejected(kwargs, reason):
    with pytest.raises(ValueError, match=reason):
        build_model(get_preset("circrna"), **kwargs)


def test_a_saved_kmer_model_can_be_the_backbone(tmp_path):
    preset = get_preset("circrna")
    build_tokenizer(preset).save_pretrained(tmp_path)
    build_model(preset, labels=preset.labels).save_pretrained(tmp_path)
    tokenizer = build_tokenizer(preset, backbone=tmp_path)
    model = build_model(preset, labels=["lncRNA", "circRNA"], backbone=tmp_path)
    assert isinstance(tokenizer, NucleotideKmerTokenizer)
    assert isinstance(model, KmerTransformerForSequenceClassification)
    assert model.config.id2label == {0: "lncRNA", 1: "circRNA"}
