"""The ONNX path's transformers-free tokenizers encode id for id as the torch path's transformers ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

import model_code.tokenization.protein  # noqa: F401  (Auto registrations; nucleotide's comes with its import)
from model_code.presets import AMINO_ACIDS, PRESETS
from model_code.serving.scoring import ModelDirError
from model_code.tokenization.kmer_windows import FIRST_KMER_ID, UNK_ID, KmerWindows
from model_code.tokenization.nucleotide import NucleotideKmerTokenizer
from model_code.tokenization.serving import KmerEncoder, TextEncoder, load_serving_tokenizer
from tests.unit.model_code.test_inference import write_model_dir

BACKBONES = {"circrna": None} | {name: PRESETS[name].model for name in PRESETS if name != "circrna"}
PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

nucleotides = st.text(alphabet="ACGTUacgtuNRYKM", min_size=1, max_size=400)
proteins = st.text(alphabet=AMINO_ACIDS + AMINO_ACIDS.lower(), min_size=1, max_size=600)
# Any text: accents, CJK, emoji, control characters, long runs past the window.
texts = st.text(min_size=1, max_size=300).filter(str.strip)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, tiny_backbone) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serving-tokenizers")
    return {
        name: write_model_dir(root / name, preset_name=name, backbone=tiny_backbone(b) if b else None)
        for name, b in BACKBONES.items()
    }


def both(model_dir: Path, items: list) -> tuple[dict, dict]:
    """What the torch path's transformers tokenizer gives (as Predictor._encode calls it) and ours."""
    max_length = json.loads((model_dir / "seqserve.json").read_text())["max_length"]
    hf = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    pairs = [item for item in items if isinstance(item, tuple)]
    texts_, text_pairs = list(zip(*pairs, strict=True)) if pairs else (items, None)
    theirs = hf(
        list(texts_),
        list(text_pairs) if text_pairs is not None else None,
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="np",
    )
    return dict(theirs), load_serving_tokenizer(model_dir)(items, max_length=max_length)


def assert_same(theirs: dict, ours: dict) -> None:
    # Every array the transformers tokenizer returns (the graph's inputs are among them) is ours too.
    assert set(theirs) <= set(ours)
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], np.asarray(value), err_msg=name)


# What each preset's requests hold, as batches.
BATCHES = {
    "circrna": st.lists(nucleotides, min_size=1, max_size=5),
    "protein-localization": st.lists(proteins, min_size=1, max_size=4),
    "aptamer-pairs": st.lists(st.tuples(nucleotides, nucleotides), min_size=1, max_size=4),
    "entailment": st.lists(st.tuples(texts, texts), min_size=1, max_size=4),
    "medical-specialty": st.lists(texts, min_size=1, max_size=4),
}


@pytest.mark.parametrize("preset", sorted(BATCHES))
@PROPERTY
@given(data=st.data())
def test_batches_match_the_transformers_tokenizer(model_dirs, preset, data):
    assert_same(*both(model_dirs[preset], data.draw(BATCHES[preset], label="items")))


def test_each_preset_gets_its_kind_of_encoder(model_dirs):
    kinds = {name: type(load_serving_tokenizer(path)) for name, path in model_dirs.items()}
    assert kinds == {"circrna": KmerEncoder} | {name: TextEncoder for name in BACKBONES if name != "circrna"}
    assert load_serving_tokenizer(model_dirs["protein-localization"]).prepare is not None
    assert load_serving_tokenizer(model_dirs["entailment"]).prepare is None


def test_protein_inputs_get_prot_berts_convention_and_bad_letters_are_named(model_dirs):
    encoder = load_serving_tokenizer(model_dirs["protein-localization"])
    lower, upper = encoder(["mkuzob"], max_length=64), encoder(["MKXXXX"], max_length=64)
    np.testing.assert_array_equal(lower["input_ids"], upper["input_ids"])
    with pytest.raises(ValueError, match=r"input 2: character '1' at position 3 is not an amino-acid letter"):
        encoder(["MK", "MK1"], max_length=64)


def test_a_caller_max_length_truncates_the_longest_of_a_pair_first(model_dirs):
    encoder = load_serving_tokenizer(model_dirs["entailment"])
    batch = encoder([("dog " * 50, "man")], max_length=16)
    assert batch["input_ids"].shape == (1, 16)
    # [CLS] 12 tokens of the long text [SEP] man [SEP]: the short text kept whole.
    assert batch["token_type_ids"][0].tolist() == [0] * 14 + [1] * 2


@given(
    sequence=st.text(alphabet="ACGTNRY", min_size=1, max_size=60),
    k=st.integers(1, 5),
    stride_fraction=st.floats(0, 1),
)
def test_kmer_ids_are_the_vocabulary_ids_of_the_kmer_strings(sequence, k, stride_fraction):
    windows = KmerWindows(k=k, stride=max(1, round(stride_fraction * k)), composition_k=2)
    expected = [windows.vocabulary.get(kmer, UNK_ID) for kmer in windows.kmers(sequence)]
    encoded = windows.encode(sequence, name="s", max_length=2 * len(sequence) + 5)
    assert encoded["input_ids"][1 : len(expected) + 1] == expected
    assert all(i == UNK_ID or i >= FIRST_KMER_ID for i in expected)


def test_the_tokenizer_and_the_windows_agree_on_settings():
    tokenizer = NucleotideKmerTokenizer(k=4, stride=2, max_length=41, composition_k=3)
    assert tokenizer.windows == KmerWindows(k=4, stride=2, composition_k=3)
    assert tokenizer.get_vocab() == tokenizer.windows.vocabulary


def test_a_model_dir_without_tokenizer_files_is_named(model_dirs, tmp_path):
    with pytest.raises(ModelDirError, match=r"tokenizer_config\.json is missing"):
        load_serving_tokenizer(tmp_path)
    copy = tmp_path / "entailment"
    shutil.copytree(model_dirs["entailment"], copy)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ModelDirError, match=r"tokenizer\.json is missing.*'BertTokenizer'"):
        load_serving_tokenizer(copy)


def test_a_broken_tokenizer_file_or_pad_token_is_named(model_dirs, tmp_path):
    copy = tmp_path / "entailment"
    shutil.copytree(model_dirs["entailment"], copy)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    (copy / "tokenizer_config.json").write_text(json.dumps({**config, "pad_token": "<nothing>"}))
    with pytest.raises(ModelDirError, match=r"pad token '<nothing>' is not in tokenizer\.json"):
        load_serving_tokenizer(copy)
    (copy / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelDirError, match=r"tokenizer\.json could not be loaded"):
        load_serving_tokenizer(copy)
    (copy / "tokenizer_config.json").write_text("[")
    with pytest.raises(ModelDirError, match=r"tokenizer_config\.json is not readable JSON"):
        load_serving_tokenizer(copy)


def test_bad_kmer_settings_in_the_tokenizer_config_are_named(model_dirs, tmp_path):
    copy = tmp_path / "circrna"
    shutil.copytree(model_dirs["circrna"], copy)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    (copy / "tokenizer_config.json").write_text(json.dumps({**config, "stride": 9}))
    with pytest.raises(ModelDirError, match=r"tokenizer_config\.json: stride must be an integer from 1 to 8"):
        load_serving_tokenizer(copy)
