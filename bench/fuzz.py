"""Schemathesis against the API, offline, from the committed OpenAPI document (``make fuzz``).

Every operation is fuzzed with requests the document allows (for a served model and for any name) and
with ones it forbids. Each answer must conform to the document (status documented, content type,
required headers such as 503's Retry-After, body schema), requests the document forbids must be
refused with a 4xx, and no answer may be a 500.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class Fuzzer:
    def __init__(self, *, base_url: str, api_key: str | None = None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if api_key is not None:
            self.session.headers["x-api-key"] = api_key
        self.tried: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.failures: list[dict[str, Any]] = []

    def one(self, case: Any, *, label: str, variant: str, checks: list[Any]) -> None:
        self.tried[label] += 1
        try:
            response = case.call(base_url=self.base_url, session=self.session, timeout=60)
        except requests.RequestException as error:
            self.failures.append({"operation": label, "variant": variant, "failure": f"no answer: {error}"})
            return
        self.statuses[f"{label} {response.status_code}"] += 1
        problems = ["answered 500"] if response.status_code == 500 else []
        try:
            case.validate_response(response, checks=checks)
        except (Exception, BaseExceptionGroup) as error:  # schemathesis groups its failures
            problems.append(str(error).strip()[:1500])
        if problems:
            self.failures.append(
                {
                    "operation": label,
                    "variant": variant,
                    "status": response.status_code,
                    "request": {"path": case.formatted_path, "body": _short(case.body)},
                    "failure": " | ".join(problems),
                }
            )

    def run(self, strategy: Any, *, examples: int, **context: Any) -> None:
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def each(case: Any) -> None:
            self.one(case, **context)

        each()


def fuzz(
    *, base_url: str, examples: int, model: str = "circrna", api_key: str | None = None
) -> dict[str, Any]:
    """``examples`` generated requests per operation and variant; the report as a JSON-able dict.
    ``api_key``: sent as ``x-api-key`` (the local stack checks it as API Gateway does)."""
    schema = schemathesis.openapi.from_path(str(DOCUMENT))
    fuzzer = Fuzzer(base_url=base_url, api_key=api_key)
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        has_name = "{name}" in operation.path
        served = {"name": model} if has_name else None
        variants = [("positive", GenerationMode.POSITIVE, served)]
        if has_name:
            variants.append(("positive-any-name", GenerationMode.POSITIVE, None))
        if operation.body:
            variants.append(("negative", GenerationMode.NEGATIVE, served))
        for variant, mode, path_parameters in variants:
            checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
            fuzzer.run(
                operation.as_strategy(generation_mode=mode, path_parameters=path_parameters),
                examples=examples,
                label=operation.label,
                variant=variant,
                checks=checks,
            )
    return {
        "document": "docs/openapi.json",
        "examples_per_variant": examples,
        "examples_tried": sum(fuzzer.tried.values()),
        "per_operation": dict(sorted(fuzzer.tried.items())),
        "statuses": dict(sorted(fuzzer.statuses.items())),
        "failures": fuzzer.failures,
        "seconds": round(time.monotonic() - started, 1),
    }


def _short(body: Any) -> Any:
    try:
        text = json.dumps(body)
    except (TypeError, ValueError):
        text = repr(body)
    return text if len(text) <= 300 else text[:300] + "..."


def main(argv: list[str] | None = None) -> int:
    """Train a tiny circrna model, start the local stack, fuzz it, print the report as JSON."""
    import argparse
    import tempfile

    from local.settings import local_config
    from local.stack import LocalStack, StackOptions
    from local.training import train_circrna
    from stacks.naming import service_stack_name

    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200, help="examples per operation and variant")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="seqserve-fuzz-") as scratch:
        work = Path(scratch)
        tiny = {
            "epochs": "1",
            "hidden_size": "16",
            "num_hidden_layers": "1",
            "num_attention_heads": "2",
            "intermediate_size": "32",
        }
        model_dir = train_circrna(
            work_dir=work / "circrna", log_file=work / "train.log", n_per_class=40, hyperparameters=tiny
        )
        config = local_config(context={}, presets={"circrna": "circrna"}, idle_minutes=1)
        options = StackOptions(
            config=config,
            stack_name=service_stack_name(config.prefix),
            model_dirs={"circrna": model_dir},
            log_dir=work / "logs",
            check_every_seconds=1.0,
        )
        with LocalStack(options) as stack:
            report = fuzz(base_url=stack.api_url, examples=args.examples, api_key=stack.api_key)
    print(json.dumps(report, indent=2))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
