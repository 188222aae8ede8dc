from __future__ import annotations

import json
import random
import re

import pytest
import torch
from transformers import AutoTokenizer

from model_code.tokenization.nucleotide import NucleotideKmerTokenizer


def composition_index(kmer: str) -> int:
    return sum("ACGT".index(base) * 4**power for power, base in enumerate(reversed(kmer)))


@pytest.fixture
def tokenizer() -> NucleotideKmerTokenizer:
    return NucleotideKmerTokenizer(k=3, stride=1, max_length=21, composition_k=2)


def test_vocabulary_is_special_tokens_then_every_kmer_in_fixed_order() -> None:
    tok = NucleotideKmerTokenizer(k=2, stride=1, max_length=16)
    vocab = tok.get_vocab()
    assert tok.vocab_size == len(tok) == 5 + 16
    assert [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])][:7] == [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "AA",
        "AC",
    ]
    assert vocab["TT"] == 20
    assert NucleotideKmerTokenizer(k=2, stride=1, max_length=16).get_vocab() == vocab


def test_case_insensitive_and_u_reads_as_t(tokenizer: NucleotideKmerTokenizer) -> None:
    assert tokenizer.tokenize("acgUu") == ["ACG", "CGT", "GTT"]
    assert tokenizer("acguu")["input_ids"] == tokenizer("ACGTT")["input_ids"]


def test_whitespace_and_fasta_lines_are_ignored(tokenizer: NucleotideKmerTokenizer) -> None:
    fasta = ">seq1 some header\nACGT\r\nAC GT\n\tTT\n"
    assert tokenizer.tokenize(fasta) == tokenizer.tokenize("ACGTACGTTT")
    assert tokenizer(fasta)["composition"] == tokenizer("ACGTACGTTT")["composition"]


def test_iupac_ambiguity_codes_map_to_unknown(tokenizer: NucleotideKmerTokenizer) -> None:
    ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("ACGNRY"))
    unk = tokenizer.unk_token_id
    assert ids[0] == tokenizer.get_vocab()["ACG"]
    assert ids[1:] == [unk, unk, unk]
    # and k-mers with ambiguity codes do not count towards the composition
    composition = tokenizer("NNNNACNN")["composition"]
    assert composition[composition_index("AC")] == pytest.approx(1.0)


@pytest.mark.parametrize(("bad", "char"), [("ACG1T", "1"), ("AC-GT", "-"), ("ACGT*", "*"), ("ACΩT", "Ω")])
def test_non_letter_is_value_error_naming_input_and_character(
    tokenizer: NucleotideKmerTokenizer, bad: str, char: str
) -> None:
    # Inputs and positions count from 1, as editors and FASTA tools do.
    position = bad.index(char) + 1
    with pytest.raises(ValueError, match=rf"input 2: character '{re.escape(char)}' at position {position} "):
        tokenizer(["ACGT", bad], padding=True)
    with pytest.raises(ValueError, match=rf"character '{re.escape(char)}'"):
        tokenizer(bad)


def test_empty_or_non_string_input_is_value_error(tokenizer: NucleotideKmerTokenizer) -> None:
    with pytest.raises(ValueError, match="input 1: the sequence is empty"):
        tokenizer([">header only\n", "ACGT"], padding=True)
    with pytest.raises(ValueError, match="input 2: expected a nucleotide sequence string, got int"):
        tokenizer(["ACGT", 7], padding=True)
    with pytest.raises(ValueError, match="text_pair"):
        tokenizer("ACGT", "ACGT")


def test_composition_matches_a_direct_count() -> None:
    tok = NucleotideKmerTokenizer(k=3, composition_k=3)
    rng = random.Random(0)
    sequence = "".join(rng.choice("ACGTN") for _ in range(500))
    kmers = [sequence[i : i + 3] for i in range(len(sequence) - 2)]
    counted = [m for m in kmers if "N" not in m]
    expected = [0.0] * 64
    for kmer in counted:
        expected[composition_index(kmer)] += 1 / len(counted)
    assert tok(sequence)["composition"] == pytest.approx(expected)
    assert tok("NNNNN")["composition"] == [0.0] * 64
    assert tok("AC")["composition"] == [0.0] * 64


def test_k_and_stride_are_configurable() -> None:
    assert NucleotideKmerTokenizer(k=4, stride=2).tokenize("ACGTACGTA") == ["ACGT", "GTAC", "ACGT"]
    assert NucleotideKmerTokenizer(k=1, stride=1).tokenize("ACG") == ["A", "C", "G"]
    assert NucleotideKmerTokenizer(k=3, stride=3).tokenize("ACGTTT") == ["ACG", "TTT"]


@pytest.mark.parametrize(("k", "stride"), [(3, 1), (4, 2), (3, 3), (1, 1)])
@pytest.mark.parametrize("length", [1, 5, 17, 30, 31, 200])
def test_windows_are_the_first_and_last_kmers_of_the_whole_tokenization(
    k: int, stride: int, length: int
) -> None:
    tok = NucleotideKmerTokenizer(k=k, stride=stride, max_length=15)  # 6 k-mers per end
    sequence = "".join(random.Random(length).choice("ACGT") for _ in range(length))
    ids = tok.convert_tokens_to_ids(tok.tokenize(sequence))
    cls, sep = tok.cls_token_id, tok.sep_token_id
    assert tok(sequence)["input_ids"] == [cls, *ids[:6], sep, *ids[-6:], sep]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be an integer from 1 to 8"),
        ({"k": 3, "stride": 4}, "stride"),
        ({"max_length": 3}, "max_length"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NucleotideKmerTokenizer(**kwargs)


def test_long_sequence_keeps_both_ends_and_whole_composition(tokenizer: NucleotideKmerTokenizer) -> None:
    # max_length 21 -> 9 k-mers from each end
    head, middle, tail = "A" * 11, "C" * 5000, "G" * 11
    encoded = tokenizer(head + middle + tail)
    vocab = tokenizer.get_vocab()
    ids = encoded["input_ids"]
    assert len(ids) == 21
    assert ids[0] == tokenizer.cls_token_id and ids[10] == ids[20] == tokenizer.sep_token_id
    assert ids[1:10] == [vocab["AAA"]] * 9
    assert ids[11:20] == [vocab["GGG"]] * 9
    assert encoded["token_type_ids"] == [0] * 11 + [1] * 10
    composition = encoded["composition"]
    assert sum(composition) == pytest.approx(1.0)
    assert composition[composition_index("CC")] > 0.99  # the middle is seen, not cut


def test_short_sequence_is_both_head_and_tail(tokenizer: NucleotideKmerTokenizer) -> None:
    encoded = tokenizer("ACGTA")
    vocab = tokenizer.get_vocab()
    kmers = [vocab["ACG"], vocab["CGT"], vocab["GTA"]]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert encoded["input_ids"] == [cls, *kmers, sep, *kmers, sep]
    assert encoded["token_type_ids"] == [0] * 5 + [1] * 4


def test_batch_pads_to_tensors_with_mask(tokenizer: NucleotideKmerTokenizer) -> None:
    batch = tokenizer(["ACGTA", "A" * 300], padding=True, truncation=True, return_tensors="pt")
    assert batch["input_ids"].shape == (2, 21)
    assert batch["composition"].shape == (2, 16)
    assert batch["attention_mask"][0].tolist() == [1] * 9 + [0] * 12
    assert batch["input_ids"][0, 9:].eq(tokenizer.pad_token_id).all()
    assert batch["composition"].dtype == torch.float32


def test_call_max_length_overrides_window(tokenizer: NucleotideKmerTokenizer) -> None:
    assert len(tokenizer("A" * 100, max_length=11)["input_ids"]) == 11


def test_save_and_auto_load_round_trip(tmp_path, tokenizer: NucleotideKmerTokenizer) -> None:
    tokenizer.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert (saved["k"], saved["stride"], saved["composition_k"], saved["model_max_length"]) == (3, 1, 2, 21)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(loaded) is NucleotideKmerTokenizer
    assert loaded.get_vocab() == tokenizer.get_vocab()
    texts = ["ACGTNACGTTTGCA" * 5, "gguacc"]
    assert loaded(texts, padding=True) == tokenizer(texts, padding=True)
    assert loaded.all_special_tokens == tokenizer.all_special_tokens
