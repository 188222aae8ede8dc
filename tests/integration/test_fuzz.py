"""Schemathesis against the local stack from the committed document, a bounded number of examples per
operation: every answer conforms to the document, forbidden requests are refused, never a 500.
``make fuzz`` runs more examples and prints the report as JSON."""

from __future__ import annotations

import json

import pytest

from bench.fuzz import fuzz
from local.stack import LocalStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_answer_conforms_to_the_document(stack: LocalStack) -> None:
    report = fuzz(base_url=stack.api_url, examples=8, api_key=stack.api_key)
    # Operations without inputs have one request to send; those taking a model name get the examples.
    assert len(report["per_operation"]) >= 9
    for operation, tried in report["per_operation"].items():
        assert tried >= (8 if "{name}" in operation else 1), operation
    # The served model was really exercised, not only unknown names, and bad bodies were sent.
    assert report["statuses"].get("GET /models/{name}/status 200")
    assert report["statuses"].get("GET /models/{name}/evaluation 200")
    assert report["statuses"].get("POST /models/{name}/predict 400")
    assert report["per_operation"]["POST /models/{name}/predict"] >= 3 * 8
    assert report["failures"] == [], json.dumps(report["failures"], indent=1)
