"""Train a preset with the Hugging Face Trainer: the SageMaker training-script entry point.

    python -m model_code.train --preset P --train DIR [--test DIR] --model-dir DIR [--epochs N ...]

SageMaker's training toolkit runs this file as ``python train.py ...`` from a copy of ``model_code/``;
hyperparameters and defaults are described in :mod:`model_code.hyperparameters`. Launched by
``torchrun`` (SageMaker multi-GPU / multi-instance) it trains data-parallel; only rank 0 writes the model.

The model directory ends up holding the ``save_pretrained`` files of model and tokenizer, ``labels.json``,
``seqserve.json``, ``evaluation.json`` (on --test if given, else on records the data marks as test,
else on a test split held out of training and validation, see ``test_fraction``),
``confusion_matrix.png``, ``training_curve.png`` and ``code/`` (the serving code, see
:mod:`model_code.package`); :func:`finalise_model_dir` writes all of them. The three reports are also
copied to ``--output-data-dir`` (SM_OUTPUT_DATA_DIR) when one is given.
"""

from __future__ import annotations

if not __package__:
    # Run as a file (SageMaker's toolkit): register this folder as the package model_code first.
    import _package

    _package.ensure_package()

import json
import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (
    DataCollatorWithPadding,
    EvalPrediction,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from model_code.data.labels import apply_labels, balanced_class_weights, label_names
from model_code.data.loading import DataError, Example, load_examples
from model_code.data.splits import deduplicate, split_examples, split_marked_test
from model_code.evaluate import evaluate_examples
from model_code.modeling.factory import build_model, build_tokenizer
from model_code.package import write_code_dir
from model_code.presets import Preset
from model_code.serving.predictor import SEQSERVE_FILE
from model_code.training.hyperparameters import (
    SAGEMAKER_CHECKPOINT_DIR,
    TrainingRun,
    TrainingSettings,
    UsageError,
    parse_training_run,
    preset_for_run,
    training_settings,
)
from model_code.training.metrics import classification_report, format_metric_line, headline, softmax
from model_code.training.plots import plot_confusion_matrix, plot_training_curve

logger = logging.getLogger("model_code.train")

LABELS_FILE = "labels.json"
EVALUATION_FILE = "evaluation.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
TRAINING_CURVE_FILE = "training_curve.png"


@dataclass(frozen=True, kw_only=True)
class PreparedData:
    train: list[Example]
    validation: list[Example]
    # The examples evaluation.json is computed on, what they are ("test", "held_out_test" or
    # "validation") and where they come from.
    evaluation: list[Example]
    evaluation_split: str
    evaluation_source: str
    labels: list[str]


class EncodedExamples(torch.utils.data.Dataset):
    """Examples tokenized once (unpadded); DataCollatorWithPadding pads each batch."""

    def __init__(self, *, encodings: Sequence[Mapping[str, list]], label_ids: Sequence[int]) -> None:
        self._items = [
            {**encoding, "labels": label} for encoding, label in zip(encodings, label_ids, strict=True)
        ]

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> dict[str, list | int]:
        return self._items[index]


class MetricLines(TrainerCallback):
    """Prints each logged metric as a ``seqserve_metric`` line for SageMaker's metric definitions."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        values: dict[str, float | None] = {}
        if "loss" in logs:
            values["train:loss"] = logs["loss"]
        for name in ("loss", "accuracy", "macro_f1", "roc_auc"):
            if f"eval_{name}" in logs:
                values[f"validation:{name}"] = logs[f"eval_{name}"]
        if values:
            values["train:epoch"] = logs.get("epoch", state.epoch)
            print(format_metric_line(values), flush=True)


def prepare_data(*, preset: Preset, run: TrainingRun, settings: TrainingSettings) -> PreparedData:
    """Load, label and split the data; raises DataError naming the file, line and reason."""
    # DeepLoc marks its own held-out records: never train on them, and evaluate on them unless --test.
    examples, marked_test = split_marked_test(load_examples(preset, run.train))
    if not examples:
        raise DataError("holds only test-marked records, nothing to train on", path=run.train)
    examples = deduplicate(examples).examples
    labels = label_names(preset, examples)
    examples = apply_labels(preset, examples, labels)
    # The validation split picks the best epoch, so it is no fair estimate: evaluation.json reports on
    # test data, held out of the training data when the job brings none.
    hold_out = run.test is None and not marked_test
    splits = split_examples(
        examples,
        validation_fraction=settings.validation_fraction,
        test_fraction=settings.test_fraction if hold_out else 0.0,
        seed=settings.seed,
        groups=preset.split_groups,
    )
    if run.test is not None:
        evaluation = apply_labels(preset, load_examples(preset, run.test), labels)
        split, source = "test", "the test data (--test / the job's test channel)"
    elif marked_test:
        evaluation = apply_labels(preset, marked_test, labels)
        split, source = "test", "the records the training data marks as test"
    elif splits.test:
        evaluation, split = splits.test, "held_out_test"
        source = (
            f"test_fraction {settings.test_fraction} of the training data (seed {settings.seed}), held out "
            "of training and validation"
        )
    else:
        evaluation, split = splits.validation, "validation"
        source = "the validation split (test_fraction 0), which also chose the best checkpoint"
    return PreparedData(
        train=splits.train,
        validation=splits.validation,
        evaluation=evaluation,
        evaluation_split=split,
        evaluation_source=source,
        labels=labels,
    )


def mixed_precision_flags(setting: str, *, cuda: bool, bf16_supported: bool) -> dict[str, bool]:
    """TrainingArguments' bf16/fp16 for a ``mixed_precision`` setting on this machine."""
    if setting == "auto":
        setting = "no" if not cuda else "bf16" if bf16_supported else "fp16"
    if setting == "fp16" and not cuda:
        raise UsageError("mixed_precision fp16 needs a CUDA GPU; use bf16 or auto on a CPU instance")
    return {"bf16": setting == "bf16", "fp16": setting == "fp16"}


def check_position_limit(model, *, max_length: int) -> None:
    """UsageError when ``max_length`` tokens exceed the loaded model's positions (before training)."""
    config = model.config
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None:
        return
    # RoBERTa-family models number positions from padding_idx + 1.
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert") and config.pad_token_id:
        limit -= config.pad_token_id + 1
    if max_length > limit:
        raise UsageError(
            f"max_length {max_length} exceeds the {limit} positions of the backbone "
            f"({config.model_type}); lower max_length"
        )


def encode(
    tokenizer, examples: Sequence[Example], *, preset: Preset, labels: Sequence[str]
) -> EncodedExamples:
    texts = [example.text for example in examples]
    pairs = [example.text_pair for example in examples] if preset.pair else None
    encoded = tokenizer(texts, pairs, truncation=True, max_length=preset.max_length)
    keys = list(encoded.keys())
    encodings = [{key: encoded[key][i] for key in keys} for i in range(len(examples))]
    index = {label: i for i, label in enumerate(labels)}
    return EncodedExamples(encodings=encodings, label_ids=[index[example.label] for example in examples])


def trainer_metrics(labels: Sequence[str]):
    def compute(prediction: EvalPrediction) -> dict[str, float]:
        logits = (
            prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        )
        report = classification_report(
            y_true=prediction.label_ids, probabilities=softmax(np.asarray(logits)), labels=labels
        )
        return {name: value for name, value in headline(report).items() if value is not None}

    return compute


def weighted_loss(class_weights: Sequence[float]):
    """Class-weighted cross entropy for the Trainer (pretrained heads compute an unweighted loss).

    Summed and divided by the Trainer's count of labels in the accumulated batch, so gradient
    accumulation and data parallelism average it the way they average the models' own losses.
    """

    def compute(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        logits = outputs["logits"]
        weight = torch.tensor(list(class_weights), dtype=logits.dtype, device=logits.device)
        flat = labels.view(-1).to(logits.device)
        total = torch.nn.functional.cross_entropy(
            logits.view(-1, logits.shape[-1]), flat, weight=weight, reduction="sum"
        )
        if num_items_in_batch is None:
            return total / weight[flat].sum()
        if isinstance(num_items_in_batch, torch.Tensor):
            num_items_in_batch = num_items_in_batch.to(total.device)
        return total / num_items_in_batch

    return compute


def training_arguments(
    *, settings: TrainingSettings, checkpoint_dir: Path, best_metric: str, distributed: bool
) -> TrainingArguments:
    cuda = torch.cuda.is_available()
    precision = mixed_precision_flags(
        settings.mixed_precision, cuda=cuda, bf16_supported=cuda and torch.cuda.is_bf16_supported()
    )
    # Checkpoints every save_steps (spot), else every epoch; the best one is picked among those
    # evaluated, so evaluation follows the same schedule.
    schedule = (
        {
            "eval_strategy": "steps",
            "save_strategy": "steps",
            "eval_steps": settings.save_steps,
            "save_steps": settings.save_steps,
        }
        if settings.save_steps is not None
        else {"eval_strategy": "epoch", "save_strategy": "epoch"}
    )
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        **precision,
        **schedule,
        # The hyperparameter keeps the familiar name; transformers 5 calls it activation checkpointing.
        activation_checkpointing=settings.gradient_checkpointing,
        # Non-reentrant checkpointing works under DDP with every parameter used once per step.
        activation_checkpointing_kwargs={"use_reentrant": False} if settings.gradient_checkpointing else None,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps is not None else -1,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        # Keep the best checkpoint and the latest (for resuming), nothing older.
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=best_metric,
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=settings.logging_steps,
        seed=settings.seed,
        data_seed=settings.seed,
        disable_tqdm=False,
        report_to="none",
        # Without use_cpu, accelerate leaves a torchrun group on CPUs undistributed (each rank alone).
        use_cpu=not torch.cuda.is_available(),
        # gloo is the CPU backend; on GPUs the Trainer picks NCCL itself.
        ddp_backend="gloo" if distributed and not torch.cuda.is_available() else None,
        # Every parameter of our models takes part in the loss; searching for unused ones costs a pass.
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
    )


def train(run: TrainingRun, *, checkpoint_dir: Path, distributed: bool) -> dict[str, object] | None:
    """Train and, on rank 0, write the model dir; returns the evaluation report (None on other ranks)."""
    preset = preset_for_run(run.preset, run.hyperparameters)
    settings = training_settings(run.hyperparameters, preset.training)
    set_seed(settings.seed)
    data = prepare_data(preset=preset, run=run, settings=settings)
    class_weights = balanced_class_weights(data.train, data.labels) if preset.class_weighting else None
    try:
        tokenizer = build_tokenizer(preset, backbone=run.backbone)
        model = build_model(preset, labels=data.labels, backbone=run.backbone, class_weights=class_weights)
    except (OSError, ValueError) as error:
        # transformers' answers to a missing folder, an unreachable Hub id or a folder without the
        # model's files; some span several lines, the error is reported on one.
        source = run.backbone if run.backbone is not None else preset.model
        raise UsageError(f"backbone {source!r} cannot be loaded: {' '.join(str(error).split())}") from None
    check_position_limit(model, max_length=preset.max_length)
    # Imbalanced labels (the ones weighted) are better judged by macro F1 than by accuracy.
    best_metric = "macro_f1" if preset.class_weighting else "accuracy"
    trainer = Trainer(
        model=model,
        args=training_arguments(
            settings=settings, checkpoint_dir=checkpoint_dir, best_metric=best_metric, distributed=distributed
        ),
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8),
        train_dataset=encode(tokenizer, data.train, preset=preset, labels=data.labels),
        eval_dataset=encode(tokenizer, data.validation, preset=preset, labels=data.labels),
        processing_class=tokenizer,
        compute_metrics=trainer_metrics(data.labels),
        compute_loss_func=weighted_loss(class_weights) if class_weights is not None else None,
        callbacks=[MetricLines()],
    )
    last = get_last_checkpoint(str(checkpoint_dir)) if checkpoint_dir.is_dir() else None
    if last is not None:
        logger.info("resuming from checkpoint %s", last)
    trainer.train(resume_from_checkpoint=last)
    rank, world = trainer.args.process_index, trainer.args.world_size
    logger.info("rank %d of %d: training finished (%s)", rank, world, trainer.args.parallel_mode.value)
    if not trainer.is_world_process_zero():
        return None
    report = finalise_model_dir(
        run.model_dir,
        model=trainer.model,
        tokenizer=tokenizer,
        preset=preset,
        labels=data.labels,
        settings=settings,
        backbone=run.backbone,
        evaluation=data.evaluation,
        evaluation_split=data.evaluation_split,
        evaluation_source=data.evaluation_source,
        log_history=trainer.state.log_history,
    )
    logger.info("rank %d of %d: wrote the model to %s", rank, world, run.model_dir)
    if run.output_data_dir is not None:
        # SageMaker uploads this folder as the job's output.tar.gz: the reports, without the weights.
        run.output_data_dir.mkdir(parents=True, exist_ok=True)
        for name in (EVALUATION_FILE, CONFUSION_MATRIX_FILE, TRAINING_CURVE_FILE):
            shutil.copy2(run.model_dir / name, run.output_data_dir / name)
    if data.evaluation_split in ("test", "held_out_test"):
        print(format_metric_line({f"test:{k}": v for k, v in headline(report).items()}), flush=True)
    return report


def finalise_model_dir(
    model_dir: Path,
    *,
    model,
    tokenizer,
    preset: Preset,
    labels: Sequence[str],
    settings: TrainingSettings,
    backbone: str | None,
    evaluation: Sequence[Example],
    evaluation_split: str,
    log_history: Sequence[Mapping[str, float]],
    evaluation_source: str | None = None,
) -> dict[str, object]:
    """Write everything the model dir holds at the end of training; the one place that does."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (model_dir / LABELS_FILE).write_text(json.dumps(list(labels)) + "\n")
    settings_document = {
        "preset": preset.name,
        "labels": list(labels),
        "max_length": preset.max_length,
        "pair": preset.pair,
        "backbone": backbone if backbone is not None else preset.model,
        "training": asdict(settings),
    }
    (model_dir / SEQSERVE_FILE).write_text(json.dumps(settings_document, indent=2) + "\n")
    # Evaluated from the written files, so the report describes exactly what will be served.
    report = evaluate_examples(model_dir=model_dir, examples=evaluation)
    report = {
        "split": evaluation_split,
        **({"split_source": evaluation_source} if evaluation_source is not None else {}),
        **report,
    }
    (model_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2) + "\n")
    matrix = report["confusion_matrix"]
    plot_confusion_matrix(
        matrix=matrix["matrix"], labels=matrix["labels"], path=model_dir / CONFUSION_MATRIX_FILE
    )
    plot_training_curve(log_history=log_history, path=model_dir / TRAINING_CURVE_FILE)
    # The serving code goes with the weights, so the job's model.tar.gz is deployable as it is.
    write_code_dir(model_dir)
    if os.environ.get("SEQSERVE_EXPORT_FORMAT") == "onnx":  # set for a model with serving.runtime onnx
        from model_code.export.onnx_export import export_after_training

        export_after_training(model_dir)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run = parse_training_run(
            sys.argv[1:] if argv is None else argv,
            environ=os.environ,
            sagemaker_checkpoints_exist=SAGEMAKER_CHECKPOINT_DIR.is_dir(),
        )
        # Without a persistent checkpoint folder, checkpoints live beside the model dir for this run only
        # (a run cut off leaves them, and the next run into the same model dir resumes from them).
        scratch = run.checkpoint_dir is None
        checkpoint_dir = run.checkpoint_dir or run.model_dir.with_name(run.model_dir.name + ".checkpoints")
        # torchrun (and SageMaker's distributed launchers) set WORLD_SIZE for every rank they start.
        distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        report = train(run, checkpoint_dir=checkpoint_dir, distributed=distributed)
    except (UsageError, DataError) as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 2
    if report is not None and scratch:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
