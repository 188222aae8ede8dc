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
    report = fuzz(base_url=stack.api_url, examples=8)
    assert report["examples_tried"] >= 8 * len(report["per_operation"])
    # The served model was really exercised, not only unknown names.
    assert any(key.startswith("POST /models/{name}/predict 200") for key in report["statuses"])
    assert report["failures"] == [], json.dumps(report["failures"], indent=1)
