"""The SageMaker handlers (model_fn, input_fn, predict_fn, output_fn) on tiny models built in code."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model_code import inference
from model_code.modeling.factory import build_model, build_tokenizer
from model_code.presets import get_preset
from model_code.serving.errors import InferenceError
from model_code.serving.payload import Request
from model_code.serving.predictor import ModelDirError
from model_code.serving.validation import Limits
from tests.trained_models import score_spread, train_briefly

CIRCRNA_SEQUENCES = (
    "ACGTTGCAAGGCTTACGATCGATCGGCTAGCTAGGCTTAACGT" * 3,
    "TTTTGGGGCCCCAAAATTTTGGGGCCCCAAAA",
    "ACGUACGUNNACGUACGUACGUACGUACGUACGU",
    "GATTACA" * 60,
)
# Token counts from a few (shorter than one k-mer window) to the full window at both ends, and sequences
# far longer than the window, whose middle only the composition vector sees.
MIXED_LENGTHS = (
    *CIRCRNA_SEQUENCES,
    "GGCC",
    "ACGTTGCA" * 9,
    "ACGT" * 300,
    "".join("ACGT"[(i * i + 3 * i) % 4] for i in range(5_000)),
)


def write_model_dir(
    directory: Path, *, preset_name: str, backbone: Path | None = None, max_positions: int | None = None
) -> Path:
    """A servable model dir as training writes it (save_pretrained files + seqserve.json), untrained.

    ``max_positions`` shrinks the k-mer model's position table, so longer inputs make it fail inside
    ``forward``: a stand-in for a model that crashes on some inputs.
    """
    preset = get_preset(preset_name)
    labels = list(preset.labels or ("a", "b", "c"))
    torch.manual_seed(0)
    tokenizer = build_tokenizer(preset, backbone=backbone)
    model = build_model(preset, labels=labels, backbone=backbone)
    if max_positions is not None:
        model.config.max_position_embeddings = max_positions
        model = type(model)(model.config)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
    settings = {"preset": preset.name, "labels": labels, "max_length": preset.max_length, "pair": preset.pair}
    (directory / "seqserve.json").write_text(json.dumps(settings))
    return directory


def call(model, body, content_type="application/json", accept="application/json"):
    """input_fn -> predict_fn -> output_fn, as the inference toolkit chains them; the parsed JSON."""
    payload, media_type = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, content_type), model), accept
    )
    assert media_type == "application/json"
    return json.loads(payload)


def refusal(model, body, content_type="application/json", accept="application/json") -> InferenceError:
    with pytest.raises(InferenceError) as caught:
        call(model, body, content_type, accept)
    return caught.value


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads():
    """model_fn sets the process's torch thread count; other test modules may share this process."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def circrna(tmp_path_factory):
    directory = write_model_dir(tmp_path_factory.mktemp("models") / "circrna", preset_name="circrna")
    # Trained a few steps, so its scores differ between inputs and the parity checks below have teeth.
    model = inference.model_fn(str(train_briefly(directory)))
    return replace(model, limits=Limits(max_inputs=6, max_chars=2_000, micro_batch=2))


@pytest.fixture(scope="module")
def sensitive_circrna(circrna):
    """The circrna model with weights scaled up: an untrained model scores every input about the same."""
    model = copy.deepcopy(circrna.model)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(std=0.3, generator=generator)
    return replace(
        circrna, model=model, limits=Limits(max_inputs=len(MIXED_LENGTHS), max_chars=10_000, micro_batch=2)
    )


@pytest.fixture(scope="module")
def entailment(tmp_path_factory, tiny_backbone):
    directory = write_model_dir(
        tmp_path_factory.mktemp("models") / "entailment",
        preset_name="entailment",
        backbone=tiny_backbone("bert-base-uncased"),
    )
    return inference.model_fn(str(train_briefly(directory)))


@pytest.fixture(scope="module")
def protein(tmp_path_factory, tiny_backbone):
    directory = write_model_dir(
        tmp_path_factory.mktemp("models") / "protein",
        preset_name="protein-localization",
        backbone=tiny_backbone("Rostlab/prot_bert"),
    )
    return inference.model_fn(str(train_briefly(directory)))


def test_model_fn_loads_in_eval_mode_with_the_labels_of_the_model(circrna):
    assert circrna.model.training is False
    assert circrna.labels == ("circRNA", "lncRNA")
    assert circrna.device.type == "cpu"


def test_model_fn_names_the_missing_settings_file(tmp_path):
    with pytest.raises(ModelDirError, match=r"seqserve\.json is missing"):
        inference.model_fn(str(tmp_path))


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"labels": ["a", "b"]}', "has no preset name"),
        ('{"preset": "circrna"}', "has no label list"),
        ('{"preset": "nope", "labels": ["a", "b"]}', "unknown preset 'nope'"),
    ],
)
def test_model_fn_names_what_is_wrong_with_the_settings_file(tmp_path, settings, reason):
    (tmp_path / "seqserve.json").write_text(settings)
    with pytest.raises(ModelDirError, match=rf"seqserve\.json: {reason}"):
        inference.model_fn(str(tmp_path))


def test_one_sequence_gives_one_entry_with_a_label_and_its_probability(circrna):
    result = call(circrna, json.dumps({"inputs": CIRCRNA_SEQUENCES[0]}))
    assert len(result) == 1
    assert result[0]["label"] in circrna.labels
    assert 0.5 <= result[0]["score"] <= 1.0  # the best of two probabilities


def test_a_list_gives_one_entry_per_input_in_order(circrna):
    each = [call(circrna, json.dumps({"inputs": s}))[0] for s in CIRCRNA_SEQUENCES]
    together = call(circrna, json.dumps({"inputs": list(CIRCRNA_SEQUENCES)}))
    assert [entry["label"] for entry in together] == [entry["label"] for entry in each]
    assert [entry["score"] for entry in together] == pytest.approx([e["score"] for e in each], abs=1e-5)
    # The model tells these inputs apart far beyond that tolerance, so the agreement means something.
    assert score_spread(scores(circrna, CIRCRNA_SEQUENCES)) > 0.1


def test_top_k_lists_labels_best_first_and_is_capped_at_the_label_count(circrna):
    result = call(circrna, json.dumps({"inputs": list(CIRCRNA_SEQUENCES[:2]), "parameters": {"top_k": 5}}))
    assert len(result) == 2
    for ranked in result:
        assert len(ranked) == 2
        assert {entry["label"] for entry in ranked} == set(circrna.labels)
        assert ranked[0]["score"] >= ranked[1]["score"]
        assert sum(entry["score"] for entry in ranked) == pytest.approx(1.0)
    best = call(circrna, json.dumps({"inputs": CIRCRNA_SEQUENCES[0], "parameters": {"top_k": 1}}))
    assert best == [[call(circrna, json.dumps({"inputs": CIRCRNA_SEQUENCES[0]}))[0]]]


def scores(model, inputs) -> torch.Tensor:
    """Every label's probability for each input, through the one scoring path the handlers use."""
    request = Request(
        inputs=tuple(inputs), names=tuple(f"inputs[{i}]" for i in range(len(inputs))), top_k=None,
        content_type="application/json",
    )  # fmt: skip
    return torch.tensor(model.predict(request).scores)


def test_scores_do_not_depend_on_the_other_inputs_of_the_batch(sensitive_circrna):
    """Alone or among inputs of other lengths, in any order and micro-batch size: the same to 1e-5."""
    alone = torch.cat([scores(sensitive_circrna, [s]) for s in MIXED_LENGTHS])
    # The check has teeth: the model tells these inputs apart, so a mixed-up row or padding leaking into
    # a short input's result would show far above the tolerance.
    assert float(alone[:, 0].max() - alone[:, 0].min()) > 0.2
    generator = torch.Generator().manual_seed(0)
    for micro_batch in (1, 2, 3, len(MIXED_LENGTHS)):
        model = replace(sensitive_circrna, limits=replace(sensitive_circrna.limits, micro_batch=micro_batch))
        for _ in range(3):
            order = torch.randperm(len(MIXED_LENGTHS), generator=generator).tolist()
            batched = scores(model, [MIXED_LENGTHS[i] for i in order])
            torch.testing.assert_close(batched, alone[order], atol=1e-5, rtol=0)


def test_a_micro_batch_holds_inputs_of_similar_length(circrna):
    """Inputs are ordered by length before batching, so short ones are not padded to the longest."""
    short, long = ("ACGTACGTAC", "TTGACCAGTA"), (CIRCRNA_SEQUENCES[0], CIRCRNA_SEQUENCES[3])
    widths: list[tuple[int, int]] = []
    hook = circrna.model.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(tuple(kwargs["attention_mask"].sum(dim=1).tolist())),
        with_kwargs=True,
    )
    try:
        call(circrna, json.dumps({"inputs": [long[0], short[0], long[1], short[1]]}))
    finally:
        hook.remove()
    assert len(widths) == 2 and all(len(set(batch)) == 1 for batch in widths)


def test_micro_batches_are_bounded_and_give_the_same_scores(circrna):
    seen: list[int] = []
    hook = circrna.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(len(kwargs["input_ids"])), with_kwargs=True
    )
    try:
        result = call(circrna, json.dumps({"inputs": [CIRCRNA_SEQUENCES[3]] * 5}))
    finally:
        hook.remove()
    assert max(seen) <= circrna.limits.micro_batch and sum(seen) == 5
    assert all(entry["label"] == result[0]["label"] for entry in result)
    assert [entry["score"] for entry in result] == pytest.approx([result[0]["score"]] * 5, abs=1e-5)


def test_fasta_records_are_scored_like_the_same_sequences_in_json(circrna):
    first, second = CIRCRNA_SEQUENCES[:2]
    fasta = f">first some description\n{first[:60]}\n{first[60:]}\n\n>second\n{second}\n"
    from_fasta = call(circrna, fasta.encode(), "text/x-fasta")
    from_json = call(circrna, json.dumps({"inputs": list(CIRCRNA_SEQUENCES[:2])}))
    assert from_fasta == from_json


def test_plain_text_is_one_sequence_read_case_and_line_break_insensitively(circrna):
    sequence = CIRCRNA_SEQUENCES[0]
    plain = f"{sequence[:50].lower()}\n{sequence[50:]}\n".encode()
    assert call(circrna, plain, "text/plain; charset=utf-8") == call(
        circrna, json.dumps({"inputs": sequence})
    )


def test_json_already_decoded_by_the_model_server_is_accepted(circrna):
    body = {"inputs": [CIRCRNA_SEQUENCES[1]]}
    assert call(circrna, body) == call(circrna, bytearray(json.dumps(body).encode()))


def test_pairs_single_and_listed_for_a_pair_preset(entailment):
    pair = {"text": "a man is playing guitar", "text_pair": "a person plays music"}
    one = call(entailment, json.dumps({"inputs": pair}))
    many = call(entailment, json.dumps({"inputs": [pair, {"text": "the dog", "text_pair": "a cat"}]}))
    assert len(many) == 2 and one[0]["label"] == many[0]["label"]
    assert one[0]["score"] == pytest.approx(many[0]["score"], abs=1e-5)
    pairs = [(pair["text"], pair["text_pair"]), ("the dog", "a cat"), ("a child", "no")]
    assert score_spread(scores(entailment, pairs)) > 0.1
    assert {entry["label"] for entry in many} <= {"entailment", "neutral", "contradiction"}
    ranked = call(entailment, json.dumps({"inputs": [pair], "parameters": {"top_k": 3}}))
    assert [e["score"] for e in ranked[0]] == sorted((e["score"] for e in ranked[0]), reverse=True)


def test_protein_sequences_are_scored(protein):
    result = call(protein, b">P1\nMKTAYIAKQR\nQISFVKSHFS\n>P2\nmkvlaaguzob\n", "text/x-fasta")
    assert len(result) == 2 and all(entry["label"] in protein.labels for entry in result)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ('{"inputs": ""}', "application/json", 400, "inputs: the sequence is empty"),
        ('{"inputs": ["ACGT", "  "]}', "application/json", 400, "inputs[1]: the sequence is empty"),
        ('{"inputs": []}', "application/json", 400, "inputs is an empty list"),
        ("{}", "application/json", 400, "the body has no inputs"),
        ('["ACGT"]', "application/json", 400, 'the body must be a JSON object {"inputs": ...}, got a list'),
        ('{"inputs": 5}', "application/json", 400, "inputs must be a string or"),
        ('{"inputs": ["ACGT", null]}', "application/json", 400, "inputs[1] must be a string or"),
        (
            '{"inputs": [{"text": 1, "text_pair": "A"}]}',
            "application/json",
            400,
            "inputs[0].text must be a string",
        ),
        (
            '{"inputs": [{"text": "A", "pair": "C"}]}',
            "application/json",
            400,
            "inputs[0]: unknown key(s) pair",
        ),
        ('{"inputs": "ACGT", "extra": 1}', "application/json", 400, "unknown field(s) extra"),
        (
            '{"inputs": "ACGT", "parameters": {"top_k": 0}}',
            "application/json",
            400,
            "top_k must be a positive",
        ),
        (
            '{"inputs": "ACGT", "parameters": {"top_k": true}}',
            "application/json",
            400,
            "top_k must be a positive",
        ),
        (
            '{"inputs": "ACGT", "parameters": {"top_k": "2"}}',
            "application/json",
            400,
            "top_k must be a positive",
        ),
        (
            '{"inputs": "ACGT", "parameters": {"temp": 1}}',
            "application/json",
            400,
            "unknown parameter(s) temp",
        ),
        ('{"inputs": "ACGT", "parameters": 3}', "application/json", 400, "parameters must be an object"),
        ('{"inputs": "AC', "application/json", 400, "the body is not valid JSON"),
        ('{"inputs": ' + "[" * 100_000, "application/json", 400, "the body is nested too deeply"),
        (b'{"inputs": "\xff"}', "application/json", 400, "the body is not UTF-8: invalid byte at offset 12"),
        ('{"inputs": "ACGZT"}', "application/json", 400, "inputs: character 'Z' at position 4 is invalid"),
        ('{"inputs": ["ACGT", "AC GT1"]}', "application/json", 400, "inputs[1]: character '1' at position 5"),
        (
            '{"inputs": [{"text": "ACGT", "text_pair": "ACGT"}]}',
            "application/json",
            400,
            "inputs[0]: a pair was sent but this model takes one sequence per input",
        ),
        (
            '{"inputs": ["A", "C", "G", "T", "A", "C", "G"]}',
            "application/json",
            413,
            "7 inputs sent; at most 6",
        ),
        (
            json.dumps({"inputs": ["ACGT", "A" * 2_001]}),
            "application/json",
            413,
            "inputs[1]: 2001 characters",
        ),
        (">a\nACGT\n>b\n\n>c\nACGT", "text/x-fasta", 400, "record 2 (b): the record has no sequence"),
        ("ACGT\n>a\nACGT", "text/x-fasta", 400, "FASTA line 1: sequence before the first '>' header"),
        (">a\nAC*T\n", "text/x-fasta", 400, "record 1 (a): character '*' at position 3"),
        ("", "text/x-fasta", 400, "the FASTA body holds no records"),
        (" \n", "text/plain", 400, "the body is empty"),
        ("ACGT", "text/csv", 415, "content type 'text/csv' is not supported"),
        ("ACGT", "application/x-www-form-urlencoded", 415, "is not supported"),
    ],
)
def test_bad_input_is_refused_with_its_status_naming_the_input(circrna, body, content_type, status, message):
    error = refusal(circrna, body, content_type)
    assert error.status == status
    assert message in error.message
    assert error.body() == {"error": {"code": error.code, "message": error.message}}


def test_a_single_sequence_sent_to_a_pair_preset_is_refused(entailment):
    error = refusal(entailment, json.dumps({"inputs": ["a man", {"text": "a", "text_pair": "b"}]}))
    assert (error.status, error.code) == (400, "invalid_input")
    assert error.message.startswith("inputs[0]: this model takes a pair per input")
    empty_pair = refusal(entailment, json.dumps({"inputs": {"text": "a man", "text_pair": ""}}))
    assert empty_pair.message == "inputs.text_pair: the sequence is empty"


def test_sequence_content_types_are_refused_for_a_text_preset(entailment):
    error = refusal(entailment, b"a man is sleeping", "text/plain")
    assert error.status == 415 and "this model takes text" in error.message


def test_protein_letters_are_checked_against_the_protein_alphabet(protein):
    error = refusal(protein, json.dumps({"inputs": ["MKT", "MK TJ"]}))
    assert error.status == 400
    assert error.message.startswith("inputs[1]: character 'J' at position 4 is invalid")


@pytest.mark.parametrize("accept", ["application/json", "*/*", None, "", "text/html, application/*;q=0.8"])
def test_json_compatible_accept_headers_are_answered(circrna, accept):
    assert len(call(circrna, json.dumps({"inputs": "ACGT"}), accept=accept)) == 1


@pytest.mark.parametrize("accept", ["text/html", "application/xml, text/csv"])
def test_other_accept_headers_get_406(circrna, accept):
    error = refusal(circrna, json.dumps({"inputs": "ACGT"}), accept=accept)
    assert (error.status, error.code) == (406, "not_acceptable")


def test_limits_come_from_the_environment_and_bad_values_name_the_variable():
    assert Limits.from_environ({"SEQSERVE_MAX_INPUTS": "3", "SEQSERVE_MICRO_BATCH": "2"}) == Limits(
        max_inputs=3, micro_batch=2
    )
    assert Limits.from_environ({}) == Limits()
    for value in ("0", "many", "-4"):
        with pytest.raises(ValueError, match="SEQSERVE_MAX_CHARS must be a positive integer"):
            Limits.from_environ({"SEQSERVE_MAX_CHARS": value})


def test_model_fn_reads_the_thread_count_and_rejects_a_bad_one(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQSERVE_TORCH_THREADS", "two")
    with pytest.raises(ValueError, match="SEQSERVE_TORCH_THREADS must be a positive integer"):
        inference.model_fn(str(tmp_path))
