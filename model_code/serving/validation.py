"""The checks that turn a parsed request into one for a preset, and the request limits.

Refusals are :class:`~model_code.serving.errors.InferenceError` with their status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from model_code.presets import Preset, normalise_input
from model_code.serving.errors import InferenceError, invalid_input
from model_code.serving.payload import Item, Request

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Request limits; ``micro_batch`` bounds how many sequences go through the model at once."""

    max_inputs: int = 64
    max_chars: int = 100_000
    micro_batch: int = 32

    def __post_init__(self) -> None:
        for name in ("max_inputs", "max_chars", "micro_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Limits:
        """Read ``SEQSERVE_MAX_INPUTS``, ``SEQSERVE_MAX_CHARS`` and ``SEQSERVE_MICRO_BATCH`` if set."""
        values: dict[str, int] = {}
        for name in ("max_inputs", "max_chars", "micro_batch"):
            key = f"SEQSERVE_{name.upper()}"
            if key not in environ:
                continue
            try:
                values[name] = int(environ[key])
            except ValueError:
                values[name] = -1
            if values[name] < 1:
                raise ValueError(f"{key} must be a positive integer, got {environ[key]!r}")
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """What a preset takes: the letters a sequence may hold (None: free text) and whether inputs are pairs."""

    alphabet: frozenset[str] | None
    pair: bool

    @classmethod
    def of(cls, preset: Preset) -> InputSpec:
        alphabet = frozenset(preset.alphabet) if preset.alphabet is not None else None
        return cls(alphabet=alphabet, pair=preset.pair)

    def normalise(self, item: Item) -> Item:
        """``item`` in the form training read its data in (:func:`model_code.presets.normalise_input`)."""
        sequence = self.alphabet is not None
        if isinstance(item, tuple):
            return (normalise_input(item[0], sequence=sequence), normalise_input(item[1], sequence=sequence))
        return normalise_input(item, sequence=sequence)


def check_request(request: Request, *, spec: InputSpec, limits: Limits) -> None:
    """Raise :class:`InferenceError` unless every input of ``request`` suits the preset."""
    if request.content_type != "application/json" and spec.alphabet is None:
        raise InferenceError(
            415,
            "unsupported_media_type",
            f"content type {request.content_type} is for sequence presets; this model takes text: "
            "send application/json",
        )
    if len(request.inputs) > limits.max_inputs:
        raise InferenceError(
            413,
            "too_many_inputs",
            f"{len(request.inputs)} inputs sent; at most {limits.max_inputs} per request",
        )
    for name, item in zip(request.names, request.inputs, strict=True):
        is_pair = isinstance(item, tuple)
        if is_pair and not spec.pair:
            raise invalid_input(f"{name}: a pair was sent but this model takes one sequence per input")
        if spec.pair and not is_pair:
            raise invalid_input(
                f'{name}: this model takes a pair per input: send {{"text": ..., "text_pair": ...}}'
            )
        parts = item if is_pair else (item,)
        for part_name, text in zip(("text", "text_pair") if is_pair else ("",), parts, strict=True):
            where = f"{name}.{part_name}" if part_name else name
            _check_text(text, where=where, alphabet=spec.alphabet, limits=limits)


def _check_text(text: str, *, where: str, alphabet: frozenset[str] | None, limits: Limits) -> None:
    if not text.strip():
        raise invalid_input(f"{where}: the sequence is empty")
    if len(text) > limits.max_chars:
        raise InferenceError(
            413, "too_long", f"{where}: {len(text)} characters; at most {limits.max_chars} per sequence"
        )
    if alphabet is None:
        return
    # Sequences are read case-insensitively with whitespace ignored, as the tokenizers read them;
    # positions count the sequence letters only, from 1, so they match what the client sees in FASTA.
    letters = "".join(text.split())
    if set(letters.upper()) <= alphabet:
        return
    position, char = next((i, c) for i, c in enumerate(letters, start=1) if c.upper() not in alphabet)
    raise invalid_input(
        f"{where}: character {char!r} at position {position} is invalid "
        f"(expected one of {''.join(sorted(alphabet))})"
    )
