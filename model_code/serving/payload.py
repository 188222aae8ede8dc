"""Request bodies into a :class:`Request`, and the Accept header into a response type.

JSON follows the Hugging Face text-classification pipeline (``{"inputs": X, "parameters":
{"top_k": N}}``); sequence presets also take FASTA (``text/x-fasta``) and one bare sequence
(``text/plain``). Every refusal names the input it is about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from model_code.serving.errors import InferenceError, invalid_input

JSON = "application/json"
FASTA = "text/x-fasta"
PLAIN = "text/plain"
CONTENT_TYPES = (JSON, FASTA, PLAIN)

Item = str | tuple[str, str]


@dataclass(frozen=True, kw_only=True)
class Request:
    """Inputs in order, each a sequence or a (text, text_pair); ``names`` say where each came from."""

    inputs: tuple[Item, ...]
    names: tuple[str, ...]
    top_k: int | None
    content_type: str


def media_type(header: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``; no header reads as JSON."""
    if not header:
        return JSON
    return header.split(";", 1)[0].strip().lower()


def parse_request(body: object, content_type: str | None) -> Request:
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        raise InferenceError(
            415,
            "unsupported_media_type",
            f"content type {kind!r} is not supported; send one of {', '.join(CONTENT_TYPES)}",
        )
    # The stock image's model server may hand over JSON already decoded.
    if kind == JSON and isinstance(body, dict | list):
        return _from_json(body)
    text = _decode(body)
    if kind == JSON:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise invalid_input(f"the body is not valid JSON: {error.msg} at line {error.lineno}") from None
        except RecursionError:
            # The decoder recurses per level, so a small body of nested brackets exhausts the stack.
            raise invalid_input("the body is nested too deeply to be a prediction request") from None
        return _from_json(document)
    if kind == FASTA:
        return _from_fasta(text)
    sequence = "".join(text.split())
    if not sequence:
        raise invalid_input("the body is empty: send one sequence")
    return Request(inputs=(sequence,), names=("the sequence",), top_k=None, content_type=PLAIN)


def _decode(body: object) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            return bytes(body).decode("utf-8")
        except UnicodeDecodeError as error:
            raise invalid_input(f"the body is not UTF-8: invalid byte at offset {error.start}") from None
    raise invalid_input(f"the body must be bytes or text, got {type(body).__name__}")


def _from_json(document: object) -> Request:
    if not isinstance(document, dict):
        raise invalid_input(f'the body must be a JSON object {{"inputs": ...}}, got {_json_type(document)}')
    unknown = sorted(set(document) - {"inputs", "parameters"})
    if unknown:
        raise invalid_input(f"unknown field(s) {', '.join(unknown)}: expected inputs and parameters")
    if "inputs" not in document:
        raise invalid_input("the body has no inputs")
    top_k = _top_k(document.get("parameters"))
    raw = document["inputs"]
    if isinstance(raw, list):
        if not raw:
            raise invalid_input("inputs is an empty list: send at least one input")
        names = tuple(f"inputs[{i}]" for i in range(len(raw)))
        items = tuple(_item(value, name=name) for value, name in zip(raw, names, strict=True))
    else:
        names = ("inputs",)
        items = (_item(raw, name="inputs"),)
    return Request(inputs=items, names=names, top_k=top_k, content_type=JSON)


def _item(value: object, *, name: str) -> Item:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"text", "text_pair"})
        if unknown:
            raise invalid_input(f"{name}: unknown key(s) {', '.join(unknown)}: expected text and text_pair")
        if "text" not in value:
            raise invalid_input(f"{name}: a pair needs text and text_pair")
        text = value["text"]
        if not isinstance(text, str):
            raise invalid_input(f"{name}.text must be a string, got {_json_type(text)}")
        if "text_pair" not in value:
            return text  # {"text": x} is how the pipeline spells one sequence too
        pair = value["text_pair"]
        if not isinstance(pair, str):
            raise invalid_input(f"{name}.text_pair must be a string, got {_json_type(pair)}")
        return (text, pair)
    raise invalid_input(
        f'{name} must be a string or {{"text": ..., "text_pair": ...}}, got {_json_type(value)}'
    )


def _top_k(parameters: object) -> int | None:
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise invalid_input(f"parameters must be an object, got {_json_type(parameters)}")
    unknown = sorted(set(parameters) - {"top_k"})
    if unknown:
        raise invalid_input(f"unknown parameter(s) {', '.join(unknown)}: only top_k is supported")
    top_k = parameters.get("top_k")
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise invalid_input(f"parameters.top_k must be a positive integer, got {json.dumps(top_k)}")
    return top_k


def _from_fasta(text: str) -> Request:
    names: list[str] = []
    sequences: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            header = line[1:].split(maxsplit=1)
            names.append(f"record {len(names) + 1} ({header[0] if header else 'no id'})")
            sequences.append([])
        elif not sequences:
            raise invalid_input(f"FASTA line {number}: sequence before the first '>' header")
        else:
            sequences[-1].append(line)
    if not sequences:
        raise invalid_input("the FASTA body holds no records: each record starts with a '>' header line")
    items = tuple("".join(parts) for parts in sequences)
    for name, item in zip(names, items, strict=True):
        if not item:
            raise invalid_input(f"{name}: the record has no sequence")
    return Request(inputs=items, names=tuple(names), top_k=None, content_type=FASTA)


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def accepts_json(accept: str | None) -> bool:
    """Whether an Accept header admits ``application/json``; none, or ``*/*``, does."""
    if not accept:
        return True
    for media_range in accept.split(","):
        kind = media_range.split(";", 1)[0].strip().lower()
        if kind in ("", "*/*", "application/*", JSON):
            return True
    return False
