"""The cross-validation benchmark's harness: folds, what it reports, and skipping without the data."""

from __future__ import annotations

import json

import pytest

from bench import __main__ as bench_main
from bench import circrna_cv
from model_code.data.synthetic import write_dataset

TINY = ["--epochs", "1", "--hidden-size", "16", "--num-hidden-layers", "1", "--num-attention-heads", "2"]
TINY += ["--intermediate-size", "32", "--statistics_hidden_size", "4", "--head_hidden_size", "8"]


def test_without_the_shared_data_it_is_skipped_naming_the_path(tmp_path):
    result = circrna_cv.run(data=tmp_path / "absent")
    assert result == {
        "skipped": f"no circrna data at {tmp_path / 'absent'}: put circRNA.txt and lncRNA.txt there to run it"
    }


def test_it_is_a_named_benchmark_that_make_bench_runs_only_when_asked():
    assert "circrna_cv" in bench_main.BENCHMARKS
    assert "circrna_cv" not in bench_main.DEFAULT_BENCHMARKS


@pytest.mark.slow
def test_each_fold_trains_on_the_others_and_is_scored_on_itself(tmp_path, capsys):
    write_dataset("circrna", tmp_path / "data", n_per_class=15, seed=4, length_range=(100, 200))
    result = circrna_cv.run(data=tmp_path / "data", folds=3, only=[0, 2], extra_arguments=TINY)
    assert capsys.readouterr().out == ""  # training's output goes to stderr, stdout is for the JSON
    assert result["examples"] == 30 and result["folds"] == 3
    assert [run["fold"] for run in result["runs"]] == [0, 2]
    assert all((run["train"], run["test"]) == (20, 10) for run in result["runs"])
    assert all(run["hyperparameters"]["epochs"] == 1 for run in result["runs"])
    accuracies = [run["accuracy"] for run in result["runs"]]
    assert result["accuracy"]["mean"] == pytest.approx(sum(accuracies) / 2, abs=1e-4)
    assert result["accuracy"]["std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2, abs=1e-4)
    assert all(run["wall_seconds"] > 0 and run["cpu_seconds"] > 0 for run in result["runs"])
    assert result["meets_targets"] is (
        result["accuracy"]["mean"] >= 0.93
        and result["roc_auc"]["mean"] >= 0.975
        and result["wall_seconds"]["max"] <= 600
    )
    json.dumps(result)  # the document bench prints


def test_bad_training_arguments_fail_the_benchmark_naming_the_fold(tmp_path):
    write_dataset("circrna", tmp_path / "data", n_per_class=6, seed=4, length_range=(100, 200))
    result = circrna_cv.run(data=tmp_path / "data", folds=2, extra_arguments=["--epochs", "-1"])
    assert result["failed"].startswith("fold 0: training exited with code 2")


def test_the_baselines_score_each_feature_set_on_the_same_folds(tmp_path):
    assert "skipped" in circrna_cv.baselines(data=tmp_path / "absent")
    write_dataset("circrna", tmp_path / "data", n_per_class=20, seed=3, length_range=(100, 300))
    result = circrna_cv.baselines(data=tmp_path / "data", folds=2)
    assert result["examples"] == 40 and len(result["baselines"]) == 4
    for scores in result["baselines"].values():
        assert len(scores["folds"]) == 2
        accuracies = [fold["accuracy"] for fold in scores["folds"]]
        assert scores["accuracy"]["mean"] == pytest.approx(sum(accuracies) / 2, abs=1e-4)
        assert all(0 <= fold["roc_auc"] <= 1 for fold in scores["folds"])
    json.dumps(result)
