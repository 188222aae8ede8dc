"""Cross-validated quality of the circrna preset's training recipe on the shared data set.

    python -m bench circrna_cv                      # 5 folds, the preset's default hyperparameters
    python -m bench.circrna_cv [--folds N] [--only 0,2] [-- --epochs 6 ...]   # extra train arguments

The data (``../shared/data/circrna/train`` from the repository root, one file per class) is split into
``folds`` stratified folds (scikit-learn ``StratifiedKFold``, shuffled with a fixed seed). For each
fold the other folds are the training channel and the fold itself the test channel, which nothing in
training sees; each run goes through the training entry point exactly as SageMaker calls it (train.py
holds out its own validation split of the training channel to choose the best epoch) and is scored
from the model dir's ``evaluation.json``. One split can flatter or wrong a recipe by a point or more,
so recipes are compared by the mean and spread over the folds, never by one split.

Reported per fold: accuracy, ROC AUC, macro F1, the wall time of the whole training run (loading,
tokenizing, training, writing and evaluating the model), its CPU time and the load average when it
ended; then the mean and (population) standard deviation of each over the folds, and whether the means
meet the issue's goals and every run met the time budget. The data path defaults to ``../shared`` beside
the repository; a git worktree elsewhere passes ``--data``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from sklearn.model_selection import StratifiedKFold

from model_code.data.loading import Example, load_examples
from model_code.presets import get_preset
from model_code.train import main as train_main

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "circrna" / "train"
FOLDS = 5
FOLD_SEED = 0
# The goals: on an independent test set, and one training run within 10 minutes on 2 cores.
TARGETS = {"accuracy": 0.93, "roc_auc": 0.975, "wall_seconds": 10 * 60}
METRICS = ("accuracy", "roc_auc", "macro_f1", "wall_seconds", "cpu_seconds")


def _write_class_files(examples: Sequence[Example], directory: Path) -> None:
    by_label: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example.text)
    directory.mkdir(parents=True)
    for label, sequences in by_label.items():
        (directory / f"{label}.txt").write_text("\n".join(sequences) + "\n")


def _fold_run(train: Sequence[Example], test: Sequence[Example], *, extra_arguments: Sequence[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="seqserve-cv-") as scratch:
        root = Path(scratch)
        _write_class_files(train, root / "train")
        _write_class_files(test, root / "test")
        argv = ["--preset", "circrna", "--train", str(root / "train"), "--test", str(root / "test")]
        argv += ["--model-dir", str(root / "model"), *extra_arguments]
        started, cpu_started = time.perf_counter(), time.process_time()
        # Training's progress bars and metric lines go to stderr, keeping stdout for the JSON document.
        with contextlib.redirect_stdout(sys.stderr):
            code = train_main(argv)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        if code != 0:
            return {"failed": f"training exited with code {code}; its error is in the log above"}
        evaluation = json.loads((root / "model" / "evaluation.json").read_text())
        settings = json.loads((root / "model" / "seqserve.json").read_text())
    return {
        "accuracy": round(evaluation["accuracy"], 4),
        "roc_auc": round(evaluation["roc_auc"], 4),
        "macro_f1": round(evaluation["macro"]["f1"], 4),
        "wall_seconds": round(wall, 1),
        # CPU time of this process (all its threads): what the run costs whatever else loads the machine.
        "cpu_seconds": round(cpu, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "hyperparameters": settings["training"],
    }


def _summary(runs: Sequence[dict]) -> dict:
    return {
        name: {
            "mean": round(statistics.fmean(run[name] for run in runs), 4),
            "std": round(statistics.pstdev(run[name] for run in runs), 4),
            "min": min(run[name] for run in runs),
            "max": max(run[name] for run in runs),
        }
        for name in METRICS
    }


def run(
    *,
    data: Path = DATA,
    folds: int = FOLDS,
    only: Sequence[int] | None = None,
    per_class: int | None = None,
    extra_arguments: Sequence[str] = (),
) -> dict:
    """Cross-validate; ``only`` runs some of the folds, ``per_class`` shrinks the data (harness checks)."""
    if not data.is_dir():
        return {"skipped": f"no circrna data at {data}: put circRNA.txt and lncRNA.txt there to run it"}
    examples = load_examples(get_preset("circrna"), data)
    if per_class is not None:
        by_label: dict[str, list[Example]] = defaultdict(list)
        for example in examples:
            by_label[example.label].append(example)
        examples = [example for group in by_label.values() for example in group[:per_class]]
    labels = [example.label for example in examples]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=FOLD_SEED)
    runs = []
    for fold, (train_index, test_index) in enumerate(splitter.split(examples, labels)):
        if only is not None and fold not in only:
            continue
        print(f"circrna_cv: fold {fold + 1} of {folds}", file=sys.stderr, flush=True)
        result = _fold_run(
            [examples[i] for i in train_index],
            [examples[i] for i in test_index],
            extra_arguments=extra_arguments,
        )
        if "failed" in result:
            return {"failed": f"fold {fold}: {result['failed']}"}
        runs.append({"fold": fold, "train": len(train_index), "test": len(test_index), **result})
    summary = _summary(runs)
    return {
        "preset": "circrna",
        "data": str(data),
        "examples": len(examples),
        "folds": folds,
        "fold_seed": FOLD_SEED,
        "extra_arguments": list(extra_arguments),
        "cpu_count": os.cpu_count(),
        "torch_threads": _torch_threads(),
        "runs": runs,
        **summary,
        "targets": TARGETS,
        "meets_targets": summary["accuracy"]["mean"] >= TARGETS["accuracy"]
        and summary["roc_auc"]["mean"] >= TARGETS["roc_auc"]
        and summary["wall_seconds"]["max"] <= TARGETS["wall_seconds"],
    }


def baselines(*, data: Path = DATA, folds: int = FOLDS) -> dict:
    """The k-mer-statistics baselines on the same folds: scikit-learn models on the features the
    tokenizer computes (``KmerWindows``: k-mer frequencies over the whole sequence, its length and the
    reading-frame statistics). Seconds to a minute or two each, no torch."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from model_code.tokenization.kmer_windows import KmerWindows, normalise_sequence

    if not data.is_dir():
        return {"skipped": f"no circrna data at {data}: put circRNA.txt and lncRNA.txt there to run it"}
    examples = load_examples(get_preset("circrna"), data)
    sequences = [normalise_sequence(example.text, name="a training sequence") for example in examples]
    labels = np.array([example.label == "lncRNA" for example in examples], dtype=int)
    composition = {
        k: np.stack([KmerWindows(composition_k=k).composition(s) for s in sequences]) for k in (1, 2, 3, 4)
    }
    log_length = np.log([[len(s)] for s in sequences])
    frame = np.stack([KmerWindows().statistics(s) for s in sequences])
    all_composition = np.hstack([composition[k] for k in (1, 2, 3, 4)])

    def logistic():
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))

    def boosting():
        return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.08, random_state=0)

    setups = {
        "logistic regression, 4-mer frequencies": (logistic, composition[4]),
        "gradient boosting, 1-4-mer frequencies + log length": (
            boosting,
            np.hstack([all_composition, log_length]),
        ),
        "logistic regression, reading-frame statistics alone": (logistic, frame),
        "logistic regression, 4-mer frequencies + reading-frame statistics": (
            logistic,
            np.hstack([composition[4], frame]),
        ),
    }
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=FOLD_SEED)
    results = {}
    for name, (model, features) in setups.items():
        accuracy, auc = [], []
        for train_index, test_index in splitter.split(features, labels):
            fitted = model().fit(features[train_index], labels[train_index])
            probability = fitted.predict_proba(features[test_index])[:, 1]
            accuracy.append(accuracy_score(labels[test_index], probability > 0.5))
            auc.append(roc_auc_score(labels[test_index], probability))
        results[name] = {
            "accuracy": {
                "mean": round(statistics_mean(accuracy), 4),
                "std": round(float(np.std(accuracy)), 4),
            },
            "roc_auc": {"mean": round(statistics_mean(auc), 4), "std": round(float(np.std(auc)), 4)},
            "folds": [
                {"accuracy": round(float(a), 4), "roc_auc": round(float(b), 4)}
                for a, b in zip(accuracy, auc, strict=True)
            ],
        }
    return {"examples": len(examples), "folds": folds, "fold_seed": FOLD_SEED, "baselines": results}


def statistics_mean(values: Sequence[float]) -> float:
    return statistics.fmean(float(value) for value in values)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.circrna_cv", description=__doc__)
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--only", help="comma-separated fold numbers (from 0) to run, default all")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    parser.add_argument(
        "--baselines", action="store_true", help="the scikit-learn k-mer-statistics baselines instead"
    )
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="arguments for model_code.train after --")
    args = parser.parse_args(argv)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    only = [int(fold) for fold in args.only.split(",")] if args.only else None
    if args.baselines:
        result = baselines(data=args.data, folds=args.folds)
    else:
        result = run(data=args.data, folds=args.folds, only=only, extra_arguments=extra)
    document = json.dumps(result, indent=2, sort_keys=True)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(document + "\n")
    print(document)
    return 0 if "failed" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
