"""One normalisation of input text, the same in training (data loading) and serving (both runtimes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from model_code.data.loading import load_examples
from model_code.export.onnx_export import export_onnx
from model_code.presets import PRESETS, get_preset
from model_code.serving.onnx_predictor import load_onnx_predictor
from model_code.serving.payload import Request
from model_code.serving.predictor import load_predictor
from model_code.serving.validation import InputSpec, Limits
from tests.trained_models import score_spread, train_briefly
from tests.unit.model_code.test_inference import write_model_dir

LIMITS = Limits(max_inputs=16, max_chars=10_000, micro_batch=4)
# Per preset: the file a data set of one row is, as (name, content), and the raw input(s) it holds.
SEQUENCE = " acgt TGCA\tgg ac "
ROWS = {
    "circrna": (("circRNA.txt", f"{SEQUENCE}\n"), (SEQUENCE,)),
    "protein-localization": (("d.fasta", ">Q1 Nucleus-S\nmkv LLa ukz\n"), ("mkv LLa ukz",)),
    "aptamer-pairs": (
        ("pairs.csv", f"Sequence1,Sequence2,Label\n{SEQUENCE},gg a tcc ,1\n"),
        (SEQUENCE, "gg a tcc "),
    ),
    "entailment": (
        (
            "snli.jsonl",
            json.dumps({"sentence1": "  A man plays.\n", "sentence2": " He plays  ", "gold_label": "neutral"})
            + "\n",
        ),
        ("  A man plays.\n", " He plays  "),
    ),
    "medical-specialty": (
        ("notes.csv", 'transcription,medical_specialty\n"  Chest  pain.\n ",Cardiology\n'),
        ("  Chest  pain.\n ",),
    ),
}


def request(items) -> Request:
    names = tuple(f"inputs[{index}]" for index in range(len(items)))
    return Request(inputs=tuple(items), names=names, top_k=None, content_type="application/json")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_training_reads_an_input_as_serving_normalises_it_for_every_preset(tmp_path, name):
    preset = get_preset(name)
    (file_name, content), raw = ROWS[name]
    (tmp_path / file_name).write_text(content)
    (example,) = load_examples(preset, tmp_path)
    loaded = (example.text, example.text_pair) if preset.pair else example.text
    served = InputSpec.of(preset).normalise(tuple(raw) if preset.pair else raw[0])
    assert loaded == served
    assert served == (
        tuple(map(preset.normalise_input, raw)) if preset.pair else preset.normalise_input(raw[0])
    )


def test_sequences_lose_all_whitespace_and_case_and_text_only_its_ends():
    assert get_preset("aptamer-pairs").normalise_input(SEQUENCE) == "ACGTTGCAGGAC"
    assert get_preset("entailment").normalise_input("  A man  plays.\n") == "A man  plays."


@pytest.fixture(scope="module")
def aptamer_dir(tmp_path_factory, tiny_backbone) -> Path:
    directory = write_model_dir(
        tmp_path_factory.mktemp("aptamer") / "model",
        preset_name="aptamer-pairs",
        backbone=tiny_backbone("albert-base-v2"),
    )
    train_briefly(directory)
    export_onnx(directory)
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_aptamer_whitespace_and_case_do_not_change_the_prediction(aptamer_dir, runtime):
    loader = load_predictor if runtime == "torch" else load_onnx_predictor
    predictor = loader(aptamer_dir, limits=LIMITS)
    sent = [(SEQUENCE, "gg a tcc "), ("ACGT\nACGT", " TTGG CCAA"), ("gattaca", "ACGT ACGT ACGT")]
    trained_form = [("ACGTTGCAGGAC", "GGATCC"), ("ACGTACGT", "TTGGCCAA"), ("GATTACA", "ACGTACGTACGT")]
    spaced = np.array(predictor.predict(request(sent)).scores)
    plain = np.array(predictor.predict(request(trained_form)).scores)
    np.testing.assert_allclose(spaced, plain, atol=1e-6, rtol=0)
    # The tokenizer itself reads a space inside a sequence as a word boundary, so without the shared
    # normalisation these inputs would be different token sequences, and the model's scores do differ
    # between token sequences.
    tokenizer = AutoTokenizer.from_pretrained(aptamer_dir)
    assert tokenizer("ACGT TGCA")["input_ids"] != tokenizer("ACGTTGCA")["input_ids"]
    assert score_spread(plain) > 0.1
