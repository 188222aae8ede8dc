from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from model_code.data.labels import apply_labels, label_names
from model_code.data.loading import load_examples
from model_code.data.splits import split_marked_test, stratified_split
from model_code.data.synthetic import write_dataset
from model_code.presets import PRESETS, get_preset

# Small enough to stay fast, large enough for the fixed-size presets' every label.
SIZES = {
    "circrna": 60,
    "protein-localization": 20,
    "aptamer-pairs": 60,
    "entailment": 40,
    "medical-specialty": 50,
}
LENGTHS = {"circrna": (200, 600), "protein-localization": (40, 120)}


def load_written(name, directory, **options):
    preset = get_preset(name)
    write_dataset(name, directory, n_per_class=SIZES[name], seed=7, length_range=LENGTHS.get(name), **options)
    examples = load_examples(preset, directory)
    return preset, apply_labels(preset, examples, label_names(preset, examples))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_gets_files_its_loader_reads_with_n_per_class_rows(name, tmp_path):
    preset, examples = load_written(name, tmp_path)
    counts = Counter(e.label for e in examples)
    if preset.labels is not None:
        assert counts == dict.fromkeys(preset.labels, SIZES[name])
    else:  # medical-specialty: five common specialties, rare ones merged, the blank note skipped
        assert sorted(counts.values()) == sorted([SIZES[name]] * 5 + [2 * (SIZES[name] // 5)])
        assert counts["Other"] == 2 * (SIZES[name] // 5)
    assert all((e.text_pair is not None) == preset.pair for e in examples)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_same_seed_writes_the_same_bytes(name, tmp_path):
    first = write_dataset(name, tmp_path / "a", n_per_class=5, seed=1)
    second = write_dataset(name, tmp_path / "b", n_per_class=5, seed=1)
    other = write_dataset(name, tmp_path / "c", n_per_class=5, seed=2)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert [p.read_bytes() for p in first] != [p.read_bytes() for p in other]


def features(name, train, test):
    """TF-IDF of k-mers (sequences) or words (text) per input; pairs add the per-input difference."""
    if get_preset(name).alphabet is not None:
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(4, 5), lowercase=False)
    else:
        vectorizer = TfidfVectorizer()
    vectorizer.fit([e.text for e in train] + [e.text_pair for e in train if e.text_pair])

    def encode(examples):
        first = vectorizer.transform([e.text for e in examples])
        if examples[0].text_pair is None:
            return first
        second = vectorizer.transform([e.text_pair for e in examples])
        return hstack([first, second, first - second]).tocsr()

    return encode(train), encode(test)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_planted_signal_is_learnable(name, tmp_path):
    _, examples = load_written(name, tmp_path)
    train, test = stratified_split(examples, validation_fraction=0.3, seed=0)
    x_train, x_test = features(name, train, test)
    model = LogisticRegression(max_iter=500).fit(x_train, [e.label for e in train])
    accuracy = float(np.mean(model.predict(x_test) == np.array([e.label for e in test])))
    chance = max(Counter(e.label for e in test).values()) / len(test)
    assert accuracy >= max(0.85, chance + 0.3), (accuracy, chance)


def test_length_range_bounds_sequence_lengths(tmp_path):
    _, examples = load_written("circrna", tmp_path)
    assert min(len(e.text) for e in examples) >= 200
    assert max(len(e.text) for e in examples) <= 600
    write_dataset("circrna", tmp_path / "long", n_per_class=20, seed=0)
    lengths = [len(e.text) for e in load_examples(get_preset("circrna"), tmp_path / "long")]
    assert min(lengths) >= 200 and max(lengths) <= 3000 and max(lengths) > 1000


def test_circrna_can_be_written_as_fasta(tmp_path):
    paths = write_dataset("circrna", tmp_path, n_per_class=4, seed=0, length_range=(100, 150), fasta=True)
    assert [p.name for p in paths] == ["circRNA.fa", "lncRNA.fa"]
    assert paths[0].read_text().startswith(">circRNA_1\n")
    assert Counter(e.label for e in load_examples(get_preset("circrna"), tmp_path)) == {
        "circRNA": 4,
        "lncRNA": 4,
    }


def test_deeploc_records_carry_membrane_suffixes_and_test_marks(tmp_path):
    (path,) = write_dataset("protein-localization", tmp_path, n_per_class=20, seed=0, test_fraction=0.25)
    headers = [line for line in path.read_text().splitlines() if line.startswith(">")]
    assert {header.split()[1].rsplit("-", 1)[1] for header in headers} == {"M", "S", "U"}
    train, test = split_marked_test(load_examples(get_preset("protein-localization"), path))
    assert 0.15 < len(test) / (len(train) + len(test)) < 0.35


def test_snli_data_includes_no_consensus_rows_for_the_loader_to_skip(tmp_path):
    (path,) = write_dataset("entailment", tmp_path, n_per_class=20, seed=0)
    assert sum('"gold_label": "-"' in line for line in path.read_text().splitlines()) == 2


def test_medical_rare_specialties_fall_below_the_merge_threshold(tmp_path):
    preset = dataclasses.replace(get_preset("medical-specialty"), min_class_count=None)
    write_dataset("medical-specialty", tmp_path, n_per_class=50, seed=0)
    counts = Counter(e.label for e in load_examples(preset, tmp_path))
    rare = {label: n for label, n in counts.items() if n < get_preset("medical-specialty").min_class_count}
    assert set(rare) == {"Dentistry", "Allergy / Immunology"}


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"n_per_class": 0}, "n_per_class"),
        ({"length_range": (50, 10)}, "length_range"),
        ({"test_fraction": 1.0}, "test_fraction"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path, kwargs, reason):
    with pytest.raises(ValueError, match=reason):
        write_dataset("circrna", tmp_path, **({"n_per_class": 2, "seed": 0} | kwargs))
    with pytest.raises(ValueError, match="unknown preset 'rna'"):
        write_dataset("rna", tmp_path, n_per_class=2, seed=0)
