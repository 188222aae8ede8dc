"""The serving benchmark's own logic: which model it serves and what its extra measurements leave behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from bench import inference as bench
from model_code import inference
from model_code.modeling.factory import build_model, build_tokenizer
from model_code.presets import get_preset


@pytest.fixture(scope="module")
def circrna_dir(tmp_path_factory) -> Path:
    preset = get_preset("circrna")
    directory = tmp_path_factory.mktemp("models") / "circrna"
    torch.manual_seed(0)
    build_tokenizer(preset).save_pretrained(directory)
    build_model(preset, labels=list(preset.labels)).save_pretrained(directory)
    settings = {"preset": preset.name, "labels": list(preset.labels), "max_length": preset.max_length}
    (directory / "seqserve.json").write_text(json.dumps(settings))
    return directory


def test_a_left_over_fallback_model_is_served_only_with_the_presets_current_architecture(
    circrna_dir, tmp_path
):
    assert bench._matches_preset(circrna_dir)
    assert not bench._matches_preset(tmp_path / "absent")
    stale = tmp_path / "stale"
    stale.mkdir()
    for name in ("seqserve.json", "config.json"):
        (stale / name).write_text((circrna_dir / name).read_text())
    config = json.loads((stale / "config.json").read_text())
    (stale / "config.json").write_text(json.dumps({**config, "hidden_size": 2 * config["hidden_size"]}))
    assert not bench._matches_preset(stale)
    settings = json.loads((circrna_dir / "seqserve.json").read_text())
    (stale / "config.json").write_text(json.dumps(config))
    (stale / "seqserve.json").write_text(json.dumps({**settings, "max_length": 2 * settings["max_length"]}))
    assert not bench._matches_preset(stale)


def test_thread_sweep_and_batch_check_leave_the_serving_thread_count(circrna_dir):
    threads = torch.get_num_threads()
    try:
        model = inference.model_fn(str(circrna_dir))
        serving = torch.get_num_threads()
        sequences = ["ACGTTGCAAGGCTTACGATCGATCGG" * (i + 1) for i in range(4)]
        by_threads = bench._batch_sequences_per_second_by_threads(model, [json.dumps({"inputs": sequences})])
        assert list(by_threads) == [str(n) for n in range(1, (os.cpu_count() or 1) + 1)]
        assert all(rate > 0 for rate in by_threads.values())
        assert torch.get_num_threads() == serving
        assert 0 <= bench._max_difference_alone_vs_batched(model, sequences) <= 1e-5
    finally:
        torch.set_num_threads(threads)
