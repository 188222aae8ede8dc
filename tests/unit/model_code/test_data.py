from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from model_code.data.labels import apply_labels, balanced_class_weights, label_names
from model_code.data.loading import DataError, Example, load_examples
from model_code.data.splits import deduplicate, split_examples, split_marked_test, stratified_split
from model_code.presets import SplitGroups, get_preset
from model_code.train import prepare_data
from model_code.training.hyperparameters import Hyperparameters, TrainingRun, training_settings

CIRC = get_preset("circrna")
PROTEIN = get_preset("protein-localization")
APTAMER = get_preset("aptamer-pairs")
SNLI = get_preset("entailment")
MEDICAL = dataclasses.replace(get_preset("medical-specialty"), min_class_count=2)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_class_per_file_folder_takes_the_class_from_the_file_stem(tmp_path):
    write(tmp_path / "circRNA.txt", "acgtacgu\n\nGGGCCCAAA\n")
    write(tmp_path / "lncRNA.fa", ">r1 some title\nACGT\nTTGG\n>r2\nNNAC\n")
    write(tmp_path / ".hidden.txt", "not data")
    examples = load_examples(CIRC, tmp_path)
    assert [(e.text, e.label) for e in examples] == [
        ("ACGTACGU", "circRNA"),
        ("GGGCCCAAA", "circRNA"),
        ("ACGTTTGG", "lncRNA"),
        ("NNAC", "lncRNA"),
    ]
    assert all(e.text_pair is None for e in examples)
    assert examples[1].origin.endswith("circRNA.txt, line 3")
    assert examples[3].origin.endswith("lncRNA.fa, line 4")


def test_the_class_is_the_whole_stem_dots_included(tmp_path):
    preset = dataclasses.replace(CIRC, labels=("Cell.membrane", "Nucleus"), alphabet=None)
    write(tmp_path / "Cell.membrane.txt", "MKV\n")
    assert [e.label for e in load_examples(preset, tmp_path)] == ["Cell.membrane"]


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("circRNA_test.txt", "circRNA"),
        ("lncRNA_test2.txt", "lncRNA"),
        ("CIRCRNA.fa", "circRNA"),
        ("lncrna-train.fasta", "lncRNA"),
        ("lncRNA", "lncRNA"),
    ],
)
def test_a_class_file_holds_the_label_its_name_begins_with_in_any_case(tmp_path, name, label):
    write(tmp_path / name, "ACGT\n")
    assert [e.label for e in load_examples(CIRC, tmp_path)] == [label]
    assert [e.label for e in load_examples(CIRC, tmp_path / name)] == [label]


def test_the_longest_label_a_file_name_begins_with_wins(tmp_path):
    preset = dataclasses.replace(CIRC, labels=("RNA", "RNA_long"))
    write(tmp_path / "rna_long_test.txt", "ACGT\n")
    write(tmp_path / "RNA_2.txt", "ACGT\n")
    assert sorted(e.label for e in load_examples(preset, tmp_path)) == ["RNA", "RNA_long"]


def test_a_single_file_is_a_data_set_too(tmp_path):
    path = write(tmp_path / "lncRNA.txt", "ACGT\n")
    assert load_examples(CIRC, path) == [Example("ACGT", None, "lncRNA")]


def test_deeploc_location_is_before_the_membrane_suffix_and_test_records_are_marked(tmp_path):
    write(
        tmp_path / "deeploc.fasta",
        ">Q1 Nucleus-S\nMKV\nLLA\n>Q2 Lysosome/Vacuole-M test\nmkuz\n>Q3 Cell.membrane-U\nACDE\n",
    )
    examples = load_examples(PROTEIN, tmp_path)
    assert [(e.text, e.label, e.is_test) for e in examples] == [
        ("MKVLLA", "Nucleus", False),
        ("MKUZ", "Lysosome/Vacuole", True),
        ("ACDE", "Cell.membrane", False),
    ]
    train, test = split_marked_test(examples)
    assert [e.label for e in train] == ["Nucleus", "Cell.membrane"]
    assert [e.label for e in test] == ["Lysosome/Vacuole"]


def test_csv_reads_the_mapped_columns_and_ignores_the_rest(tmp_path):
    write(tmp_path / "a.csv", "Extra,Sequence1,Sequence2,Label\nx,acgt,GGTTGG,1\ny,TTTT,CCCC,0\n")
    assert load_examples(APTAMER, tmp_path) == [
        Example("ACGT", "GGTTGG", "1"),
        Example("TTTT", "CCCC", "0"),
    ]


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path):
    (tmp_path / "a.csv").write_bytes("Sequence1,Sequence2,Label\nACGT,GGTTGG,1\n".encode("utf-8-sig"))
    assert load_examples(APTAMER, tmp_path) == [Example("ACGT", "GGTTGG", "1")]


def test_csv_free_text_keeps_case_strips_labels_and_skips_blank_notes(tmp_path, caplog):
    text = ',medical_specialty,transcription\n0, Neurology,"Seizure, then\nMRI."\n'
    text += "1, Urology,   \n2,Urology,Cystoscopy\n"
    write(tmp_path / "mt.csv", text)
    with caplog.at_level(logging.WARNING, logger="model_code.data"):
        examples = load_examples(MEDICAL, tmp_path)
    assert [(e.text, e.label) for e in examples] == [
        ("Seizure, then\nMRI.", "Neurology"),
        ("Cystoscopy", "Urology"),
    ]
    assert examples[1].origin.endswith("mt.csv, line 5")
    assert "skipped 1 rows with an empty input" in caplog.text


def test_only_line_feeds_end_csv_and_jsonl_rows(tmp_path):
    # Form feeds and Unicode line separators occur in exported notes; they are text, not row ends.
    write(
        tmp_path / "mt.csv",
        "transcription,medical_specialty\nPage 1\x0cPage 2\u2028end,Urology\nOk,Neurology\n",
    )
    notes = load_examples(MEDICAL, tmp_path / "mt.csv")
    assert [(e.text, e.label) for e in notes] == [
        ("Page 1\x0cPage 2\u2028end", "Urology"),
        ("Ok", "Neurology"),
    ]
    assert notes[1].origin.endswith("mt.csv, line 3")
    row = {"sentence1": "A man\u2028sleeps.", "sentence2": "A man rests.", "gold_label": "entailment"}
    write(tmp_path / "snli.jsonl", json.dumps(row, ensure_ascii=False) + "\r\n" + json.dumps(row) + "\n")
    pairs = load_examples(SNLI, tmp_path / "snli.jsonl")
    assert [(e.text, e.origin.rsplit(", ", 1)[1]) for e in pairs] == [
        ("A man\u2028sleeps.", "line 1"),
        ("A man\u2028sleeps.", "line 2"),
    ]


def test_snli_no_consensus_rows_are_skipped_and_reported(tmp_path, caplog):
    rows = [
        '{"sentence1": "A man sleeps.", "sentence2": "A man rests.", "gold_label": "entailment", "id": 1}',
        '{"sentence1": "A dog runs.", "sentence2": "A cat runs.", "gold_label": "-"}',
        "",
        '{"sentence1": "Kids play.", "sentence2": "Nobody plays.", "gold_label": "contradiction"}',
    ]
    write(tmp_path / "snli.jsonl", "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="model_code.data"):
        examples = load_examples(SNLI, tmp_path / "snli.jsonl")
    assert [(e.text, e.text_pair, e.label) for e in examples] == [
        ("A man sleeps.", "A man rests.", "entailment"),
        ("Kids play.", "Nobody plays.", "contradiction"),
    ]
    assert "skipped 1 rows labelled '-'" in caplog.text


@pytest.mark.parametrize(
    ("preset", "name", "content", "where", "reason"),
    [
        (CIRC, "circRNA.txt", "\n  \n", "circRNA.txt: ", "the file is empty"),
        (CIRC, "circRNA.fa", "ACGT\n>r1\nACGT\n", "line 1", "sequence before the first '>' header"),
        (CIRC, "circRNA.fa", ">r1\nACGT\n>r2\n\n>r3\nAC\n", "line 3", "record 'r2' has no sequence"),
        (CIRC, "circRNA.txt", "ACGT\nACXT\n", "line 2", "character 'X' at position 3"),
        (CIRC, "circRNA.txt", "ACGT\nAC-GT\n", "line 2", "character '-' at position 3"),
        (
            CIRC,
            "mRNA.txt",
            "ACGT\n",
            "mRNA.txt: ",
            "the file name begins with none of preset 'circrna''s labels (circRNA, lncRNA)",
        ),
        (CIRC, "test_circRNA.txt", "ACGT\n", "test_circRNA.txt: ", "name each file after the label"),
        (PROTEIN, "d.fasta", ">Q1 Nucleus-S\nMK\n>Q2 Nucleus\nMK\n", "line 3", "lacks its membrane suffix"),
        (PROTEIN, "d.fasta", ">Q1 Nucleus-S\nMK\n>Q2 Brain-S\nMK\n", "line 3", "unknown label 'Brain'"),
        (PROTEIN, "d.fasta", ">Q1 Nucleus-S train\nMK\n", "line 1", "optional ' test'"),
        (PROTEIN, "d.fasta", ">Q1 Nucleus-S\nMK1\n", "line 1", "character '1' at position 3"),
        (PROTEIN, "d.fasta", ">\nMK\n", "line 1", "no sequence ID"),
        (APTAMER, "a.csv", "Sequence1,Label\nACGT,1\n", "line 1", "missing column(s) Sequence2"),
        (
            APTAMER,
            "a.csv",
            "Sequence1,Sequence2,Label\nACGT,ACGT,1\nACGT,ACGT,2\n",
            "line 3",
            "unknown label '2'",
        ),
        (
            APTAMER,
            "a.csv",
            "Sequence1,Sequence2,Label\nACGT,ACGT,1\nACGT,ACUT,0\n",
            "line 3",
            "'U' at position 3",
        ),
        (APTAMER, "a.csv", "Sequence1,Sequence2,Label\nACGT,ACGT\n", "line 2", "missing column(s) Label"),
        (APTAMER, "a.csv", "Sequence1,Sequence2,Label\n,ACGT,1\n", "line 2", "an input is empty"),
        (SNLI, "s.jsonl", '{"sentence1": "a", "sentence2": "b"}\n', "line 1", "missing column(s) gold_label"),
        (
            SNLI,
            "s.jsonl",
            '{"sentence1": "a", "sentence2": "b", "gold_label": "yes"}\n',
            "line 1",
            "label 'yes'",
        ),
        (
            SNLI,
            "s.jsonl",
            '{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"}\n{oops\n',
            "line 2",
            "JSON",
        ),
        (SNLI, "s.jsonl", '["a", "b", "neutral"]\n', "line 1", "expected a JSON object"),
        (
            SNLI,
            "s.jsonl",
            '{"sentence1": 3, "sentence2": "b", "gold_label": "neutral"}\n',
            "line 1",
            "string",
        ),
        (
            MEDICAL,
            "m.csv",
            "transcription,medical_specialty\nNote,\n",
            "line 2",
            "medical_specialty is empty",
        ),
    ],
)
def test_bad_data_names_the_file_the_line_and_the_reason(tmp_path, preset, name, content, where, reason):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as caught:
        load_examples(preset, tmp_path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert where in message
    assert reason in message


def test_a_missing_path_and_a_folder_without_data_files_are_errors(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_examples(CIRC, tmp_path / "absent")
    write(tmp_path / "notes.md", "# not data")
    with pytest.raises(DataError, match=r"no csv data files \(\.csv\) in this folder"):
        load_examples(APTAMER, tmp_path)


def test_non_utf8_files_are_an_error(tmp_path):
    (tmp_path / "circRNA.txt").write_bytes(b"ACGT\n\xff\xfe\n")
    with pytest.raises(DataError, match=r"circRNA\.txt: not UTF-8 text"):
        load_examples(CIRC, tmp_path)


def examples_of(counts: dict[str, int]) -> list[Example]:
    return [Example(f"{label}{i}", None, label) for label, n in counts.items() for i in range(n)]


def test_stratified_split_keeps_label_proportions_and_is_reproducible():
    examples = examples_of({"a": 40, "b": 20, "c": 10})
    train, validation = stratified_split(examples, validation_fraction=0.2, seed=3)
    assert Counter(e.label for e in validation) == {"a": 8, "b": 4, "c": 2}
    assert sorted(e.text for e in train + validation) == sorted(e.text for e in examples)
    assert stratified_split(examples, validation_fraction=0.2, seed=3) == (train, validation)
    assert stratified_split(examples, validation_fraction=0.2, seed=4)[1] != validation


def test_stratified_split_explains_why_it_cannot_split():
    with pytest.raises(DataError, match="'b' have fewer than 2 examples"):
        stratified_split(examples_of({"a": 5, "b": 1}), validation_fraction=0.5, seed=0)
    with pytest.raises(DataError, match="cannot split 4 examples of 2 labels"):
        stratified_split(examples_of({"a": 2, "b": 2}), validation_fraction=0.1, seed=0)
    with pytest.raises(ValueError, match="validation_fraction"):
        stratified_split(examples_of({"a": 5, "b": 5}), validation_fraction=1.0, seed=0)


def test_fixed_labels_come_from_the_preset_in_its_order():
    assert label_names(SNLI, examples_of({"neutral": 1})) == ["entailment", "neutral", "contradiction"]


def test_rare_labels_merge_into_other_the_same_way_for_train_and_test(caplog):
    preset = dataclasses.replace(MEDICAL, min_class_count=3)
    train = examples_of({"Urology": 5, "Neurology": 3, "Dentistry": 2, "Podiatry": 1})
    with caplog.at_level(logging.WARNING, logger="model_code.data"):
        labels = label_names(preset, train)
    assert labels == ["Neurology", "Other", "Urology"]
    # The merge is logged, naming each label merged and its count.
    assert (
        "merged 2 labels seen fewer than 3 times in the training data into 'Other' (3 examples): "
        in caplog.text
    )
    assert "Dentistry (2), Podiatry (1)" in caplog.text
    train = examples_of({"Urology": 5, "Neurology": 3, "Dentistry": 2})
    assert Counter(e.label for e in apply_labels(preset, train, labels)) == {
        "Urology": 5,
        "Neurology": 3,
        "Other": 2,
    }
    # A specialty the training data never had is rare by definition.
    test = examples_of({"Urology": 1, "Podiatry": 1})
    assert [e.label for e in apply_labels(preset, test, labels)] == ["Urology", "Other"]


def test_a_label_outside_the_model_labels_is_an_error_naming_the_row(tmp_path):
    write(tmp_path / "circRNA.txt", "ACGT\n")
    examples = load_examples(CIRC, tmp_path)
    with pytest.raises(
        DataError, match=r"circRNA.txt, line 1: label 'circRNA' is not one of .*lncRNA, other"
    ):
        apply_labels(CIRC, examples, ["lncRNA", "other"])


def test_too_few_labels_after_merging_is_an_error():
    preset = dataclasses.replace(MEDICAL, min_class_count=5)
    with pytest.raises(DataError, match="fewer than 2 labels"):
        label_names(preset, examples_of({"Urology": 4, "Neurology": 1}))
    with pytest.raises(DataError, match="no examples"):
        label_names(preset, [])


def test_balanced_class_weights_favour_rare_labels():
    weights = balanced_class_weights(examples_of({"a": 30, "b": 10}), ["a", "b"])
    assert weights == pytest.approx([40 / (2 * 30), 40 / (2 * 10)])
    with pytest.raises(DataError, match=r"no training examples of label\(s\) 'c'"):
        balanced_class_weights(examples_of({"a": 3}), ["a", "c"])


def test_a_test_split_is_held_out_apart_from_validation_stratified_and_reproducible():
    examples = examples_of({"a": 50, "b": 30, "c": 20})
    splits = split_examples(examples, validation_fraction=0.1, test_fraction=0.2, seed=5)
    assert Counter(e.label for e in splits.test) == {"a": 10, "b": 6, "c": 4}
    assert Counter(e.label for e in splits.validation) == {"a": 5, "b": 3, "c": 2}
    texts = [e.text for e in splits.train + splits.validation + splits.test]
    assert sorted(texts) == sorted(e.text for e in examples)  # each example in exactly one split
    assert split_examples(examples, validation_fraction=0.1, test_fraction=0.2, seed=5) == splits
    without = split_examples(examples, validation_fraction=0.1, test_fraction=0.0, seed=5)
    assert without.test == [] and len(without.validation) == 10
    with pytest.raises(DataError, match="cannot split off a stratified test set: label\\(s\\) 'b'"):
        split_examples(examples_of({"a": 10, "b": 1}), validation_fraction=0.2, test_fraction=0.2, seed=0)


def aptamer_pairs(n_groups: int, *, pairs_per_group: int = 4) -> list[Example]:
    """Groups of pairs that share sequences (each sequence is compared with its group's others)."""
    examples = []
    for group in range(n_groups):
        sequences = [
            "ACGT" * 3 + format(group, "b").replace("0", "A").replace("1", "C") + "G" * i for i in range(3)
        ]
        for i in range(pairs_per_group):
            first, second = sequences[i % 3], sequences[(i + 1) % 3]
            examples.append(Example(first, second, str(i % 2)))
    return examples


def sequences_of(examples: list[Example]) -> set[str]:
    return {s for e in examples for s in (e.text, e.text_pair)}


def test_aptamer_pairs_split_so_no_sequence_is_in_two_splits():
    examples = aptamer_pairs(40)
    splits = split_examples(
        examples, validation_fraction=0.1, test_fraction=0.1, seed=1, groups=SplitGroups.SEQUENCES
    )
    train, validation, test = map(sequences_of, (splits.train, splits.validation, splits.test))
    assert validation and test
    assert not train & validation and not train & test and not validation & test
    assert len(splits.train) + len(splits.validation) + len(splits.test) == len(examples)
    assert splits.dropped == 0
    # The same data split by label alone puts shared sequences on both sides.
    mixed = split_examples(examples, validation_fraction=0.1, test_fraction=0.1, seed=1)
    assert sequences_of(mixed.train) & sequences_of(mixed.validation)
    assert get_preset("aptamer-pairs").split_groups is SplitGroups.SEQUENCES


def test_sequences_linked_across_all_pairs_are_split_by_sequence_dropping_straddling_pairs(caplog):
    # Every sequence is compared with every other: one group, which cannot go whole to one split.
    sequences = [f"ACGT{'A' * i}C" for i in range(30)]
    examples = [
        Example(a, b, str((i + j) % 2))
        for i, a in enumerate(sequences)
        for j, b in enumerate(sequences)
        if i < j
    ]
    with caplog.at_level(logging.WARNING):
        splits = split_examples(
            examples, validation_fraction=0.2, test_fraction=0.2, seed=0, groups=SplitGroups.SEQUENCES
        )
    train, validation, test = map(sequences_of, (splits.train, splits.validation, splits.test))
    assert splits.train and splits.validation and splits.test
    assert not train & validation and not train & test and not validation & test
    kept = len(splits.train) + len(splits.validation) + len(splits.test)
    assert splits.dropped == len(examples) - kept > 0
    assert f"{splits.dropped} of {len(examples)} pairs left out" in caplog.text


def dense_pairs(n_sequences: int, n_pairs: int, *, seed: int) -> list[Example]:
    """Pairs drawn at random among few sequences, as in aptamer fitness data: each sequence is in many
    pairs, so the pairs form one group linked through shared sequences."""
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list("ACGT"), 24)) for _ in range(n_sequences)]
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < n_pairs:
        first, second = rng.choice(n_sequences, size=2, replace=False)
        chosen.add((int(first), int(second)))
    return [Example(sequences[a], sequences[b], str((a + b) % 2)) for a, b in sorted(chosen)]


@pytest.mark.parametrize(("n_sequences", "n_pairs"), [(300, 3000), (1000, 5000)])
def test_densely_linked_pairs_still_get_their_fractions_within_a_point(n_sequences, n_pairs, caplog):
    examples = dense_pairs(n_sequences, n_pairs, seed=1)
    with caplog.at_level(logging.WARNING):
        splits = split_examples(
            examples, validation_fraction=0.1, test_fraction=0.1, seed=42, groups=SplitGroups.SEQUENCES
        )
    train, validation, test = map(sequences_of, (splits.train, splits.validation, splits.test))
    assert not train & validation and not train & test and not validation & test
    kept = len(splits.train) + len(splits.validation) + len(splits.test)
    assert splits.dropped == len(examples) - kept
    assert len(splits.validation) / kept == pytest.approx(0.1, abs=0.01)
    assert len(splits.test) / kept == pytest.approx(0.1, abs=0.01)
    # Sequences in many pairs cost pairs whatever the split; measured 33-40 % here (README).
    assert splits.dropped / len(examples) < 0.45
    assert f"{splits.dropped} of {len(examples)} pairs left out" in caplog.text


def snli_like(n_premises: int) -> list[Example]:
    """Three hypotheses per premise, one of each label, as SNLI writes them."""
    return [
        Example(f"premise number {p} is about a man", f"hypothesis {h} of premise {p}", label)
        for p in range(n_premises)
        for h, label in enumerate(("entailment", "neutral", "contradiction"))
    ]


def test_entailment_splits_by_premise_with_each_split_near_its_fraction():
    examples = snli_like(200)
    preset = get_preset("entailment")
    assert preset.split_groups is SplitGroups.PREMISE
    splits = split_examples(
        examples, validation_fraction=0.1, test_fraction=0.1, seed=3, groups=preset.split_groups
    )
    premises = [{e.text for e in split} for split in (splits.train, splits.validation, splits.test)]
    assert not premises[0] & premises[1] and not premises[0] & premises[2] and not premises[1] & premises[2]
    assert len(splits.validation) == pytest.approx(60, abs=6) and len(splits.test) == pytest.approx(60, abs=6)
    assert len(splits.train) + len(splits.validation) + len(splits.test) == len(examples)
    assert splits.dropped == 0


def prepared_data(preset, train: Path):
    """What training makes of the data in ``train`` with the preset's defaults (no test data given)."""
    run = TrainingRun(
        preset=preset.name,
        train=train,
        test=None,
        model_dir=train.parent / "model",
        output_data_dir=None,
        checkpoint_dir=None,
        backbone=None,
        hyperparameters=Hyperparameters(),
    )
    return prepare_data(
        preset=preset, run=run, settings=training_settings(Hyperparameters(), preset.training)
    )


def test_training_splits_entailment_data_by_premise(tmp_path):
    rows = [{"sentence1": e.text, "sentence2": e.text_pair, "gold_label": e.label} for e in snli_like(60)]
    write(tmp_path / "train" / "snli.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    prepared = prepared_data(get_preset("entailment"), tmp_path / "train")
    seen = [{e.text for e in split} for split in (prepared.train, prepared.validation, prepared.evaluation)]
    assert not seen[0] & seen[1] and not seen[0] & seen[2] and not seen[1] & seen[2]


def test_duplicates_are_removed_before_splitting_and_conflicting_labels_reported(caplog):
    notes = [
        Example(f"note {i} about the heart", None, "Cardiology", origin=f"f, line {i}") for i in range(20)
    ]
    copies = [Example("note 3  about the heart", None, "Cardiology", origin="f, line 30")]
    conflicting = [
        Example("knee pain after surgery", None, "Orthopedic", origin="f, line 40"),
        Example("knee pain after surgery", None, "Surgery", origin="f, line 41"),
    ]
    with caplog.at_level(logging.WARNING):
        result = deduplicate([*notes, *copies, *conflicting])
    assert result.examples == notes
    assert result.duplicates == 1
    assert result.conflicts == [conflicting]
    assert "removed 1 duplicate examples" in caplog.text
    assert "f, line 40 (Orthopedic), f, line 41 (Surgery)" in caplog.text


def test_training_never_puts_a_duplicate_note_in_two_splits(tmp_path, caplog):
    preset = get_preset("medical-specialty")
    rows = ["transcription,medical_specialty"]
    for label in ("Cardiology", "Neurology", "Orthopedic"):
        rows += [f"{label} note {i} with findings,{label}" for i in range(60)]
        rows += [f"{label} note {i} with findings,{label}" for i in range(30)]  # copies of half of them
    rows += ["the same note filed twice,Cardiology", "the same note filed twice,Neurology"]
    write(tmp_path / "train" / "notes.csv", "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        prepared = prepared_data(preset, tmp_path / "train")
    texts = [[e.text for e in split] for split in (prepared.train, prepared.validation, prepared.evaluation)]
    everything = [text for split in texts for text in split]
    assert len(everything) == len(set(everything)) == 180
    assert "the same note filed twice" not in everything
    assert "conflicting labels" in caplog.text
