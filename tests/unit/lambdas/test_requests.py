"""Bad requests get their documented status and error body, and never reach SageMaker."""

from __future__ import annotations

import json

import pytest
from lambdas_testkit import call


def error_of(answer) -> tuple[int, str, str]:
    assert set(answer.body) == {"error"}
    return answer.status, answer.body["error"]["code"], answer.body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        (None, 400, "invalid_input", "empty"),
        ("   ", 400, "invalid_input", "empty"),
        ("{not json", 400, "invalid_input", "not valid JSON"),
        ('{"inputs": ' + "[" * 2000 + "]" * 2000 + "}", 400, "invalid_input", "nested too deeply"),
        ('["a"]', 400, "invalid_input", "must be a JSON object"),
        ('{"text": "ACGU"}', 400, "invalid_input", "unknown field(s) text"),
        ('{"parameters": {}}', 400, "invalid_input", 'no "inputs"'),
        ('{"inputs": 42}', 400, "invalid_input", "inputs must be"),
        ('{"inputs": ""}', 400, "invalid_input", "inputs is an empty sequence"),
        ('{"inputs": []}', 400, "invalid_input", "empty list"),
        ('{"inputs": ["ACGU", 7]}', 400, "invalid_input", "inputs[1] must be"),
        ('{"inputs": ["ACGU", ""]}', 400, "invalid_input", "inputs[1] is an empty sequence"),
        ('{"inputs": {"text": "a"}}', 400, "invalid_input", "missing text_pair"),
        ('{"inputs": {"text": "a", "text_pair": 3}}', 400, "invalid_input", "inputs.text_pair must be"),
        (
            '{"inputs": ["a", {"text": "a", "text_pair": "b"}]}',
            400,
            "invalid_input",
            "inputs[1] is not a sequence",
        ),
        ('{"inputs": "ACGU", "parameters": []}', 400, "invalid_input", "parameters must be an object"),
        ('{"inputs": "ACGU", "parameters": {"top_k": 0}}', 400, "invalid_input", "top_k must be a positive"),
        (
            '{"inputs": "ACGU", "parameters": {"top_k": true}}',
            400,
            "invalid_input",
            "top_k must be a positive",
        ),
        (json.dumps({"inputs": ["ACGU"] * 9}), 413, "too_many_inputs", "9 items; at most 8"),
        (json.dumps({"inputs": "A" * 5000}), 413, "payload_too_large", "at most 4096"),
    ],
)
def test_bad_predict_body_is_rejected_before_sagemaker(invoker, runtime, aws, body, status, code, says):
    answer = call(invoker, "POST", "/models/circrna/predict", body)
    got_status, got_code, message = error_of(answer)
    assert (got_status, got_code) == (status, code)
    assert says in message
    assert runtime.bodies == []
    assert aws.created == []


def test_non_utf8_body_is_invalid_input(invoker, runtime):
    answer = call(invoker, "POST", "/models/circrna/predict", b'{"inputs": "\xff\xfe"}')
    assert error_of(answer)[:2] == (400, "invalid_input")
    assert runtime.bodies == []


def test_unknown_model_is_404_naming_it(invoker, runtime):
    for method, path in (
        ("POST", "/models/nope/predict"),
        ("GET", "/models/nope/status"),
        ("POST", "/models/nope/wake"),
    ):
        status, code, message = error_of(call(invoker, method, path, '{"inputs": "ACGU"}'))
        assert (status, code) == (404, "unknown_model")
        assert "'nope'" in message
    assert runtime.bodies == []


def test_wrong_method_is_405_with_allow(invoker):
    answer = call(invoker, "GET", "/models/circrna/predict")
    assert error_of(answer)[:2] == (405, "method_not_allowed")
    assert answer.headers["allow"] == "POST"
    assert error_of(call(invoker, "DELETE", "/models"))[:2] == (405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/elsewhere", "/models/circrna/predict/extra"])
def test_unknown_path_is_404_not_found(invoker, path):
    assert error_of(call(invoker, "GET", path))[:2] == (404, "not_found")


def test_base64_body_is_decoded_before_the_checks(invoker, runtime):
    answer = call(invoker, "POST", "/models/circrna/predict", json.dumps({"inputs": []}).encode())
    assert error_of(answer)[:2] == (400, "invalid_input")


def test_list_models_names_each_model_and_preset(invoker):
    answer = call(invoker, "GET", "/models")
    assert answer.status == 200
    assert answer.body == {
        "models": [
            {"model": "circrna", "preset": "circrna", "mode": "on_demand"},
            {"model": "entailment", "preset": "entailment", "mode": "on_demand"},
            {"model": "medical", "preset": "medical-specialty", "mode": "always_on"},
        ]
    }
