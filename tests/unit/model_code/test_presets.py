from __future__ import annotations

import dataclasses

import pytest

from model_code.presets import (
    KMER_TRANSFORMER,
    PRESETS,
    Columns,
    DataFormat,
    Preset,
    TokenizerKind,
    TrainingDefaults,
    get_preset,
)

DEFAULTS = TrainingDefaults(epochs=1, learning_rate=1e-4, batch_size=8, weight_decay=0.0, warmup_ratio=0.0)


def test_the_five_reference_workloads_are_presets():
    names = {"circrna", "protein-localization", "aptamer-pairs", "entailment", "medical-specialty"}
    assert set(PRESETS) == names
    assert all(name == preset.name for name, preset in PRESETS.items())


def test_circrna_trains_a_kmer_transformer_from_class_files():
    preset = get_preset("circrna")
    assert preset.model == KMER_TRANSFORMER
    assert preset.tokenizer is TokenizerKind.KMER
    assert preset.kmer is not None and preset.kmer.hidden_size % preset.kmer.num_attention_heads == 0
    assert preset.labels == ("circRNA", "lncRNA")
    assert preset.data_format is DataFormat.CLASS_PER_FILE
    assert not preset.pair


def test_protein_localization_fine_tunes_protbert_on_ten_deeploc_compartments():
    preset = get_preset("protein-localization")
    assert (preset.model, preset.tokenizer) == ("Rostlab/prot_bert", TokenizerKind.PROTEIN)
    assert preset.labels is not None and len(set(preset.labels)) == 10
    assert {"Nucleus", "Cytoplasm", "Lysosome/Vacuole", "Cell.membrane"} <= set(preset.labels)
    assert preset.data_format is DataFormat.DEEPLOC_FASTA


def test_pair_presets_map_their_columns():
    aptamers = get_preset("aptamer-pairs")
    assert aptamers.pair and aptamers.model == "albert-base-v2" and aptamers.labels == ("0", "1")
    assert aptamers.columns == Columns(text="Sequence1", text_pair="Sequence2", label="Label")
    entailment = get_preset("entailment")
    assert entailment.pair and entailment.data_format is DataFormat.JSONL
    assert entailment.columns == Columns(text="sentence1", text_pair="sentence2", label="gold_label")
    assert entailment.labels == ("entailment", "neutral", "contradiction")
    assert entailment.skip_labels == ("-",)


def test_medical_specialty_weights_classes_and_merges_rare_ones():
    preset = get_preset("medical-specialty")
    assert preset.model == "distilbert-base-uncased" and preset.class_weighting
    assert preset.labels is None and preset.min_class_count is not None and preset.other_label == "Other"
    assert preset.columns == Columns(text="transcription", label="medical_specialty")


def test_medical_specialty_trains_as_the_reference_notebook_does():
    defaults = get_preset("medical-specialty").training
    assert (defaults.epochs, defaults.batch_size, defaults.learning_rate) == (10, 64, 3e-5)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_trains_in_mixed_precision_where_the_gpu_allows(name):
    # "auto": bf16 or fp16 on a GPU, full precision on a CPU (train.mixed_precision_flags).
    assert get_preset(name).training.mixed_precision == "auto"


def test_unknown_preset_names_the_name_and_the_valid_ones():
    with pytest.raises(ValueError, match=r"'nope'.*aptamer-pairs, circrna, entailment"):
        get_preset("nope")


def test_presets_are_frozen_keyword_only_data():
    preset = get_preset("circrna")
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.max_length = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        TrainingDefaults(1, 1e-4, 8, 0.0, 0.0)  # type: ignore[misc]
    with pytest.raises(TypeError):
        PRESETS["x"] = preset  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"model": KMER_TRANSFORMER}, "kmer settings"),
        ({"pair": True}, "text_pair column"),
        ({"data_format": DataFormat.CLASS_PER_FILE}, "column mapping"),
        ({"labels": ("a", "b"), "min_class_count": 3}, "merged only"),
        ({"min_class_count": 0}, "at least 1"),
        ({"max_length": 4}, "max_length"),
    ],
)
def test_inconsistent_presets_are_rejected(change, reason):
    fields = {
        "name": "x",
        "description": "x",
        "tokenizer": TokenizerKind.AUTO,
        "model": "bert-base-uncased",
        "max_length": 64,
        "pair": False,
        "data_format": DataFormat.CSV,
        "columns": Columns(text="t", label="l"),
        "training": DEFAULTS,
    }
    Preset(**fields)  # the baseline is valid
    with pytest.raises(ValueError, match=reason):
        Preset(**(fields | change))
