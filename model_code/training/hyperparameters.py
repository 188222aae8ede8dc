"""The training script's command line: SageMaker's hyperparameters and channels, as frozen config.

SageMaker's training toolkit runs the entry point as ``train.py --name value ...`` with the job's
hyperparameters, under the names they were given. The deployment config (cdk.json) names them in
snake_case (``"learning_rate": 3e-5``), so every hyperparameter is accepted as ``--learning_rate`` and as
the usual CLI spelling ``--learning-rate``. Anything else on the command line is an error: a silently
dropped hyperparameter trains a different model than the one asked for.

Paths default to SageMaker's environment (``SM_CHANNEL_TRAIN``, ``SM_CHANNEL_TEST``, ``SM_MODEL_DIR``,
``SM_OUTPUT_DATA_DIR``, ``SM_CHECKPOINT_DIR``); SageMaker syncs ``/opt/ml/checkpoints`` with S3 for spot
training, so that folder is the checkpoint default when it exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from model_code.presets import Preset, TrainingDefaults, get_preset

SAGEMAKER_CHECKPOINT_DIR = Path("/opt/ml/checkpoints")


class UsageError(ValueError):
    """The command line or environment does not describe a training run; the message says why."""


@dataclass(frozen=True, kw_only=True)
class Hyperparameters:
    """Values given on the command line; None means "the preset's default"."""

    epochs: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    eval_batch_size: int | None = None
    weight_decay: float | None = None
    warmup_ratio: float | None = None
    gradient_accumulation_steps: int | None = None
    max_steps: int | None = None
    max_length: int | None = None
    validation_fraction: float | None = None
    test_fraction: float | None = None
    seed: int | None = None
    logging_steps: int | None = None
    mixed_precision: str | None = None
    gradient_checkpointing: bool | None = None
    save_steps: int | None = None
    # Model size (models trained from scratch; fine-tuned backbones keep their pretrained size).
    hidden_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    statistics_hidden_size: int | None = None
    head_hidden_size: int | None = None


@dataclass(frozen=True, kw_only=True)
class TrainingRun:
    preset: str
    train: Path
    test: Path | None
    model_dir: Path
    output_data_dir: Path | None
    checkpoint_dir: Path | None
    backbone: str | None
    hyperparameters: Hyperparameters


def _number(kind: type, *, minimum: float, exclusive: bool = False, below: float | None = None) -> Callable:
    def convert(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if value < minimum or (exclusive and value == minimum):
            raise argparse.ArgumentTypeError(f"{text!r} must be {'>' if exclusive else '>='} {minimum}")
        if below is not None and value >= below:
            raise argparse.ArgumentTypeError(f"{text!r} must be < {below}")
        return value

    return convert


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean (true or false)")


MIXED_PRECISION = ("no", "bf16", "fp16", "auto")


def _precision(text: str) -> str:
    value = text.strip().lower()
    if value not in MIXED_PRECISION:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(MIXED_PRECISION)}")
    return value


_POSITIVE_INT = _number(int, minimum=1)
_POSITIVE = _number(float, minimum=0, exclusive=True)
_NON_NEGATIVE = _number(float, minimum=0)
_FRACTION = _number(float, minimum=0, exclusive=True, below=1)
_RATIO = _number(float, minimum=0, below=1)

_HYPERPARAMETER_TYPES: dict[str, tuple[Callable, str]] = {
    "epochs": (_POSITIVE, "training epochs (may be fractional)"),
    "learning_rate": (_POSITIVE, "peak learning rate"),
    "batch_size": (_POSITIVE_INT, "training batch size per device"),
    "eval_batch_size": (_POSITIVE_INT, "evaluation batch size per device"),
    "weight_decay": (_NON_NEGATIVE, "AdamW weight decay"),
    "warmup_ratio": (_RATIO, "fraction of the steps spent warming up the learning rate"),
    "gradient_accumulation_steps": (_POSITIVE_INT, "batches per optimizer step"),
    "max_steps": (_POSITIVE_INT, "stop after this many optimizer steps (overrides epochs)"),
    "max_length": (_POSITIVE_INT, "tokens per input the tokenizer keeps"),
    "validation_fraction": (_FRACTION, "share of the training data held out for validation"),
    "test_fraction": (
        _RATIO,
        "share of the training data held out as the test set evaluation.json reports on, when the job "
        "has no test data (0: report on the validation split)",
    ),
    "seed": (_number(int, minimum=0), "random seed (data split, initialisation, shuffling)"),
    "logging_steps": (_POSITIVE_INT, "optimizer steps between training-loss log lines"),
    "mixed_precision": (_precision, "no, bf16, fp16 or auto (bf16 if the GPU has it, else fp16; no on CPU)"),
    "gradient_checkpointing": (_boolean, "recompute activations in the backward pass to save memory"),
    "save_steps": (
        _POSITIVE_INT,
        "evaluate and checkpoint every N optimizer steps instead of every epoch (spot interruptions lose "
        "at most N steps)",
    ),
    "hidden_size": (_POSITIVE_INT, "hidden size of a model trained from scratch"),
    "num_hidden_layers": (_POSITIVE_INT, "layers of a model trained from scratch"),
    "num_attention_heads": (_POSITIVE_INT, "attention heads of a model trained from scratch"),
    "intermediate_size": (_POSITIVE_INT, "feed-forward size of a model trained from scratch"),
    "statistics_hidden_size": (
        _number(int, minimum=0),
        "width of the k-mer model's reading-frame statistics branch (0: the model does not read them)",
    ),
    "head_hidden_size": (
        _number(int, minimum=0),
        "hidden width of the k-mer model's classification head (0: one linear layer)",
    ),
}
if set(_HYPERPARAMETER_TYPES) != {field.name for field in dataclasses.fields(Hyperparameters)}:
    raise RuntimeError("hyperparameter table and Hyperparameters fields disagree")


def _existing_dir_or_file(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    return path


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m model_code.train",
        description="Train a seqserve preset (SageMaker training-script contract).",
        allow_abbrev=False,
    )
    paths = parser.add_argument_group("run")
    paths.add_argument("--preset", required=True, help="preset name, e.g. circrna")
    paths.add_argument("--train", type=_existing_dir_or_file, help="training data (default SM_CHANNEL_TRAIN)")
    paths.add_argument("--test", type=_existing_dir_or_file, help="held-out data (default SM_CHANNEL_TEST)")
    paths.add_argument("--model-dir", "--model_dir", type=Path, help="where the model goes (SM_MODEL_DIR)")
    paths.add_argument(
        "--output-data-dir", "--output_data_dir", type=Path, help="extra outputs (SM_OUTPUT_DATA_DIR)"
    )
    paths.add_argument(
        "--checkpoint-dir",
        "--checkpoint_dir",
        type=Path,
        help="checkpoints, resumed from if present (SM_CHECKPOINT_DIR; /opt/ml/checkpoints if it exists)",
    )
    paths.add_argument("--backbone", help="pretrained model name or local path replacing the preset's")
    hyper = parser.add_argument_group("hyperparameters (default: the preset's)")
    for name, (convert, text) in _HYPERPARAMETER_TYPES.items():
        flags = [f"--{name}"] if "_" not in name else [f"--{name.replace('_', '-')}", f"--{name}"]
        hyper.add_argument(*flags, dest=name, type=convert, help=text)
    return parser


def _reject_unknown(unknown: Sequence[str]) -> None:
    if unknown:
        names = [item for item in unknown if item.startswith("-")] or unknown
        raise UsageError(
            f"unknown hyperparameter(s) {', '.join(names)}; known: "
            + ", ".join(sorted(_HYPERPARAMETER_TYPES))
        )


def parse_training_run(
    argv: Sequence[str], *, environ: Mapping[str, str], sagemaker_checkpoints_exist: bool = False
) -> TrainingRun:
    """Parse the command line, filling paths from SageMaker's environment; raises UsageError."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(list(argv))
    _reject_unknown(unknown)

    def from_env(value: Path | None, variable: str) -> Path | None:
        if value is not None:
            return value
        if environ.get(variable):
            return Path(environ[variable])
        return None

    train = from_env(args.train, "SM_CHANNEL_TRAIN")
    if train is None:
        raise UsageError("no training data: pass --train DIR or set SM_CHANNEL_TRAIN")
    if not train.exists():
        raise UsageError(f"training data {train} (from SM_CHANNEL_TRAIN) does not exist")
    test = from_env(args.test, "SM_CHANNEL_TEST")
    if test is not None and not test.exists():
        raise UsageError(f"test data {test} (from SM_CHANNEL_TEST) does not exist")
    model_dir = from_env(args.model_dir, "SM_MODEL_DIR")
    if model_dir is None:
        raise UsageError("no model directory: pass --model-dir DIR or set SM_MODEL_DIR")
    if model_dir.exists() and not model_dir.is_dir():
        raise UsageError(f"model directory {model_dir} exists and is not a directory")
    checkpoint_dir = from_env(args.checkpoint_dir, "SM_CHECKPOINT_DIR")
    if checkpoint_dir is None and sagemaker_checkpoints_exist:
        checkpoint_dir = SAGEMAKER_CHECKPOINT_DIR
    return TrainingRun(
        preset=args.preset,
        train=train,
        test=test,
        model_dir=model_dir,
        output_data_dir=from_env(args.output_data_dir, "SM_OUTPUT_DATA_DIR"),
        checkpoint_dir=checkpoint_dir,
        backbone=args.backbone,
        hyperparameters=Hyperparameters(**{name: getattr(args, name) for name in _HYPERPARAMETER_TYPES}),
    )


@dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    """The hyperparameters a run trains with: the given ones over the preset's defaults."""

    epochs: float
    learning_rate: float
    batch_size: int
    eval_batch_size: int
    weight_decay: float
    warmup_ratio: float
    gradient_accumulation_steps: int
    max_steps: int | None
    validation_fraction: float
    test_fraction: float
    seed: int
    logging_steps: int | float
    mixed_precision: str
    gradient_checkpointing: bool
    save_steps: int | None


_MODEL_SIZE = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "statistics_hidden_size",
    "head_hidden_size",
)
# Unless given, the training loss is logged 50 times a run (a float below 1 is a share of the steps).
DEFAULT_LOGGING_STEPS = 0.02


def training_settings(hyperparameters: Hyperparameters, defaults: TrainingDefaults) -> TrainingSettings:
    given = hyperparameters
    batch_size = given.batch_size if given.batch_size is not None else defaults.batch_size
    settings = TrainingSettings(
        epochs=given.epochs if given.epochs is not None else defaults.epochs,
        learning_rate=given.learning_rate if given.learning_rate is not None else defaults.learning_rate,
        batch_size=batch_size,
        eval_batch_size=given.eval_batch_size if given.eval_batch_size is not None else 2 * batch_size,
        weight_decay=given.weight_decay if given.weight_decay is not None else defaults.weight_decay,
        warmup_ratio=given.warmup_ratio if given.warmup_ratio is not None else defaults.warmup_ratio,
        gradient_accumulation_steps=given.gradient_accumulation_steps or 1,
        max_steps=given.max_steps,
        validation_fraction=(
            given.validation_fraction
            if given.validation_fraction is not None
            else defaults.validation_fraction
        ),
        test_fraction=given.test_fraction if given.test_fraction is not None else defaults.test_fraction,
        seed=given.seed if given.seed is not None else defaults.seed,
        logging_steps=given.logging_steps or DEFAULT_LOGGING_STEPS,
        mixed_precision=given.mixed_precision or defaults.mixed_precision,
        gradient_checkpointing=(
            given.gradient_checkpointing
            if given.gradient_checkpointing is not None
            else defaults.gradient_checkpointing
        ),
        save_steps=given.save_steps,
    )
    if settings.validation_fraction + settings.test_fraction >= 1:
        raise UsageError(
            f"validation_fraction {settings.validation_fraction} and test_fraction {settings.test_fraction} "
            "leave no training data: their sum must be below 1"
        )
    return settings


def preset_for_run(name: str, hyperparameters: Hyperparameters) -> Preset:
    """The named preset with the given ``max_length`` and model size; UsageError if it cannot take them."""
    try:
        preset = get_preset(name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    sizes = {name: getattr(hyperparameters, name) for name in _MODEL_SIZE}
    sizes = {name: value for name, value in sizes.items() if value is not None}
    if sizes:
        if preset.kmer is None:
            raise UsageError(
                f"hyperparameter(s) {', '.join(sorted(sizes))} apply to models trained from scratch; "
                f"preset {preset.name!r} fine-tunes {preset.model}, whose size is fixed"
            )
        kmer = dataclasses.replace(preset.kmer, **sizes)
        if kmer.hidden_size % kmer.num_attention_heads:
            raise UsageError(
                f"hidden_size {kmer.hidden_size} must be a multiple of num_attention_heads "
                f"{kmer.num_attention_heads}"
            )
        preset = dataclasses.replace(preset, kmer=kmer)
    if hyperparameters.gradient_checkpointing and preset.kmer is not None:
        raise UsageError(
            f"gradient_checkpointing: the {preset.model} model of preset {preset.name!r} does not support "
            "it (it is small enough not to need it)"
        )
    if hyperparameters.max_length is not None:
        try:
            preset = dataclasses.replace(preset, max_length=hyperparameters.max_length)
        except ValueError as error:  # the preset's own bounds
            raise UsageError(str(error)) from None
    return preset


def check_hyperparameters(preset_name: str, values: Mapping[str, str]) -> None:
    """Check a deployment's hyperparameters the way the training job will parse them; UsageError if not.

    The CDK app calls this at synth, so a typo fails ``cdk synth`` rather than a training job later.
    """
    flags = [item for name, value in values.items() for item in (f"--{name}", str(value))]
    parser = build_parser()
    args, unknown = parser.parse_known_args(["--preset", preset_name, *flags])
    _reject_unknown(unknown)
    hyperparameters = Hyperparameters(**{name: getattr(args, name) for name in _HYPERPARAMETER_TYPES})
    training_settings(hyperparameters, preset_for_run(preset_name, hyperparameters).training)
