"""Checks on a predict request body, made before SageMaker is called (DESIGN.md's payload)."""

from __future__ import annotations

import json
from typing import Any

from invoker.api_error import ApiError

ALLOWED_FIELDS = frozenset({"inputs", "parameters"})
PAIR_FIELDS = frozenset({"text", "text_pair"})
SHAPE = 'a sequence, a list of sequences, a pair {"text": a, "text_pair": b}, or a list of pairs'


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_input", message)


def _type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _kind(value: object, where: str) -> str:
    """'sequence' or 'pair', or raise naming the input at fault."""
    if isinstance(value, str):
        if not value.strip():
            raise _invalid(f"{where} is an empty sequence")
        return "sequence"
    if isinstance(value, dict):
        keys = set(value)
        if keys != PAIR_FIELDS:
            missing = sorted(PAIR_FIELDS - keys)
            extra = sorted(keys - PAIR_FIELDS)
            detail = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
            raise _invalid(f'{where} must be a pair {{"text": a, "text_pair": b}}: {detail}')
        for field in ("text", "text_pair"):
            if not isinstance(value[field], str) or not value[field].strip():
                raise _invalid(f"{where}.{field} must be a non-empty string, got {_type_name(value[field])}")
        return "pair"
    raise _invalid(f"{where} must be {SHAPE}; got {_type_name(value)}")


def _check_inputs(inputs: Any, *, max_inputs: int) -> None:
    if not isinstance(inputs, list):
        _kind(inputs, "inputs")
        return
    if not inputs:
        raise _invalid("inputs is an empty list; send at least one sequence or pair")
    if len(inputs) > max_inputs:
        raise ApiError(
            413, "too_many_inputs", f"inputs has {len(inputs)} items; at most {max_inputs} allowed"
        )
    first = _kind(inputs[0], "inputs[0]")
    for index, value in enumerate(inputs[1:], start=1):
        if _kind(value, f"inputs[{index}]") != first:
            raise _invalid(
                f"inputs[{index}] is not a {first} like inputs[0]; send all sequences or all pairs"
            )


def _check_parameters(parameters: Any) -> None:
    if not isinstance(parameters, dict):
        raise _invalid(f"parameters must be an object, got {_type_name(parameters)}")
    top_k = parameters.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise _invalid(f"parameters.top_k must be a positive integer, got {json.dumps(top_k)}")


def check_predict_body(body: bytes | None, *, max_inputs: int, max_body_bytes: int) -> None:
    """Raise ApiError (400 or 413) naming the input at fault; return quietly when the body is valid."""
    if not body or not body.strip():
        raise _invalid('request body is empty; send {"inputs": ...}')
    if len(body) > max_body_bytes:
        raise ApiError(
            413, "payload_too_large", f"request body is {len(body)} bytes; at most {max_body_bytes}"
        )
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _invalid(f"request body is not valid JSON: {error}") from None
    except RecursionError:
        # The decoder recurses per level, so a small body of nested brackets exhausts the stack.
        raise _invalid(f"request body is nested too deeply; inputs must be {SHAPE}") from None
    if not isinstance(document, dict):
        raise _invalid(f'request body must be a JSON object {{"inputs": ...}}, got {_type_name(document)}')
    unknown = sorted(set(document) - ALLOWED_FIELDS)
    if unknown:
        raise _invalid(f"request body has unknown field(s) {', '.join(unknown)}; allowed: inputs, parameters")
    if "inputs" not in document:
        raise _invalid(f'request body has no "inputs"; send {SHAPE}')
    _check_inputs(document["inputs"], max_inputs=max_inputs)
    if "parameters" in document:
        _check_parameters(document["parameters"])


def _where(location: tuple[object, ...]) -> str:
    """pydantic's error location as the input's name: ('body', 'inputs', 1, 'text') -> inputs[1].text."""
    where = ""
    for part in location[1:] if location[:1] == ("body",) else location:
        if isinstance(part, int):
            where += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("list[", "function-")) and part[:1].islower():
            where += f".{part}" if where else part
    return where or "request body"


def describe_validation_error(errors: list[dict[str, Any]]) -> str:
    """One sentence from pydantic's errors (the first one), naming the input at fault and why."""
    if not errors:
        return "request body is invalid"
    first = errors[0]
    return f"{_where(tuple(first.get('loc', ())))}: {first.get('msg', 'is invalid')}"
