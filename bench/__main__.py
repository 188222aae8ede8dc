"""Run the benchmarks and print their results as one JSON document.

Each benchmark module exposes ``run() -> dict``. A benchmark that cannot run here (its data is absent)
returns ``{"skipped": "<why>"}`` instead of failing the others.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

# Order matters: the inference benchmark serves the model the training benchmark writes.
# Each name is a module of this package; add a module's name here when you add the module.
BENCHMARKS: tuple[str, ...] = (
    "training",
    "inference",
    "lambdas",
    "serving_runtimes",
    "lambda_serving",
    "first_request",
    "circrna_cv",
)
# Run only when named: circrna_cv trains five models (about as long as the rest together, or longer).
DEFAULT_BENCHMARKS: tuple[str, ...] = tuple(name for name in BENCHMARKS if name != "circrna_cv")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        help=f"benchmarks to run, of {', '.join(BENCHMARKS)} (default all but circrna_cv)",
    )
    parser.add_argument("--output", type=Path, default=Path("bench/out/results.json"))
    args = parser.parse_args(argv)
    results: dict[str, object] = {}
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in args.names or DEFAULT_BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        print(f"bench: running {name}", file=sys.stderr)
        result = module.run()
        result.setdefault("bench_seconds", round(time.perf_counter() - started, 2))
        results[name] = result
    document = json.dumps(results, indent=2, sort_keys=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(document + "\n")
    print(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
