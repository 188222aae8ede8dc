"""Score a trained model directory on labelled data and print the metrics as JSON.

    python -m model_code.evaluate --model-dir DIR --data DIR_OR_FILE [--batch-size N]

The data is read with the model's preset loader (any folder or file training reads), predictions go
through the serving path (:mod:`model_code.predictor`), so the numbers are the ones clients will see.
Bad data or a folder that is not a trained model is a one-line error and exit code 2.
"""

from __future__ import annotations

if not __package__:
    # Run as a file from a copy of model_code/: register that folder as the package first.
    import _package

    _package.ensure_package()

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model_code.data.labels import apply_labels
from model_code.data.loading import DataError, Example, load_examples
from model_code.presets import get_preset
from model_code.serving.errors import InferenceError
from model_code.serving.payload import JSON, Request
from model_code.serving.predictor import ModelDirError, load_predictor, model_settings
from model_code.serving.validation import Limits
from model_code.training.metrics import classification_report

DEFAULT_BATCH_SIZE = 64


def evaluate_examples(
    *, model_dir: Path, examples: Sequence[Example], batch_size: int = DEFAULT_BATCH_SIZE
) -> dict[str, object]:
    """The classification report of the model in ``model_dir`` on ``examples`` (labels already mapped)."""
    if not examples:
        raise DataError("no examples to evaluate")
    limits = Limits(
        max_inputs=batch_size,
        max_chars=max(len(part) for e in examples for part in (e.text, e.text_pair) if part is not None),
        micro_batch=batch_size,
    )
    predictor = load_predictor(model_dir, limits=limits)
    index = {label: i for i, label in enumerate(predictor.labels)}
    unknown = sorted({example.label for example in examples} - set(index))
    if unknown:
        raise DataError(
            f"label(s) {', '.join(map(repr, unknown))} are not labels of the model in {model_dir}"
        )
    scores: list[tuple[float, ...]] = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        request = Request(
            inputs=tuple(e.text if e.text_pair is None else (e.text, e.text_pair) for e in chunk),
            names=tuple(e.origin or f"example {start + i}" for i, e in enumerate(chunk)),
            top_k=None,
            content_type=JSON,
        )
        try:
            scores.extend(predictor.predict(request).scores)
        except InferenceError as error:  # the model refuses an input: that is a data problem here
            raise DataError(str(error)) from None
    return classification_report(
        y_true=[index[example.label] for example in examples],
        probabilities=np.asarray(scores),
        labels=predictor.labels,
    )


def evaluate_data(*, model_dir: Path, data: Path, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, object]:
    settings = model_settings(model_dir)
    preset = get_preset(settings["preset"])
    examples = apply_labels(preset, load_examples(preset, data), settings["labels"])
    return evaluate_examples(model_dir=model_dir, examples=examples, batch_size=batch_size)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_code.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", "--model_dir", type=Path, required=True, help="a trained model dir")
    parser.add_argument("--data", type=Path, required=True, help="a data folder or file the preset reads")
    parser.add_argument("--batch-size", "--batch_size", type=_positive_int, default=DEFAULT_BATCH_SIZE)
    args = parser.parse_args(argv)
    try:
        report = evaluate_data(model_dir=args.model_dir, data=args.data, batch_size=args.batch_size)
    except (DataError, ModelDirError) as error:
        print(f"evaluate: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
