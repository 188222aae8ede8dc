from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer, BertTokenizer

from model_code.tokenization.protein import ProteinBertTokenizer, protbert_residues


@pytest.fixture(scope="module")
def protbert_dir(tiny_backbone):
    return tiny_backbone("Rostlab/prot_bert")


@pytest.fixture(scope="module")
def tokenizer(protbert_dir):
    return ProteinBertTokenizer.from_pretrained(protbert_dir, model_max_length=16)


def test_residues_follow_protbert_convention():
    assert protbert_residues("mkUzOb\nAc", name="seq") == "M K X X X X A C"


@pytest.mark.parametrize(
    ("sequence", "reason"),
    [
        ("MKJ", "character 'J' at position 3 is not an amino-acid letter"),
        ("MK1A", "character '1' at position 3"),
        ("  \n", "the protein sequence is empty"),
        (42, "expected a protein sequence string, got int"),
    ],
)
def test_non_amino_acid_input_is_an_error_naming_the_input(sequence, reason):
    with pytest.raises(ValueError, match=reason) as caught:
        protbert_residues(sequence, name="input 3")
    assert str(caught.value).startswith("input 3: ")


def test_raw_sequences_encode_like_the_pretrained_tokenizer_on_spaced_residues(tokenizer, protbert_dir):
    plain = BertTokenizer.from_pretrained(protbert_dir)
    assert tokenizer.tokenize("mkuzob") == ["M", "K", "X", "X", "X", "X"]
    assert tokenizer("MKVLA")["input_ids"] == plain("M K V L A")["input_ids"]
    assert tokenizer.encode("MKVLA") == plain.encode("M K V L A")
    assert tokenizer.unk_token_id not in tokenizer("ACDEFGHIKLMNPQRSTVWYXUZOB")["input_ids"]


def test_batches_pad_and_truncate_to_the_window(tokenizer):
    batch = tokenizer(["MKV", "A" * 40], padding=True, truncation=True, return_tensors="pt")
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"][0].tolist() == [1] * 5 + [0] * 11
    with pytest.raises(ValueError, match="input 2: character 'J' at position 2 "):
        tokenizer(["MKV", "MJ"])


def test_save_and_load_round_trips_exactly_through_auto_tokenizer(protbert_dir, tmp_path):
    tokenizer = ProteinBertTokenizer.from_pretrained(protbert_dir, model_max_length=16)
    tokenizer.save_pretrained(tmp_path / "one")
    assert json.loads((tmp_path / "one" / "tokenizer_config.json").read_text())["tokenizer_class"] == (
        "ProteinBertTokenizer"
    )
    loaded = AutoTokenizer.from_pretrained(tmp_path / "one")
    assert type(loaded) is ProteinBertTokenizer
    assert loaded.model_max_length == 16
    sequences = ["mkuzob", "MKVLAACDEFGHIKLMNPQRSTVWY"]
    expected = tokenizer(sequences, padding=True, truncation=True)
    assert loaded(sequences, padding=True, truncation=True) == expected
    # The preprocessing survived too: it still rejects what the original rejects.
    with pytest.raises(ValueError, match="not an amino-acid letter"):
        loaded("MK*")
    AutoTokenizer.from_pretrained(tmp_path / "one").save_pretrained(tmp_path / "two")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_pre_split_words_are_refused(tokenizer):
    with pytest.raises(ValueError, match="whole sequences"):
        tokenizer(["M", "K"], is_split_into_words=True)
