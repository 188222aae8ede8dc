"""Renders API Gateway mapping templates (Velocity) with airspeed, with the parts of ``$util`` they use.

``$util.escapeJavaScript`` is API Gateway's: Apache Commons Lang's StringEscapeUtils.escapeJavaScript,
whose result is a Java String (so a template may call ``replaceAll`` on it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import airspeed

_SHORT_ESCAPES = {'"': '\\"', "'": "\\'", "\\": "\\\\", "/": "\\/", "\b": "\\b", "\n": "\\n", "\t": "\\t"}
_SHORT_ESCAPES |= {"\f": "\\f", "\r": "\\r"}


class JavaString(str):
    def replaceAll(self, regex: str, replacement: str) -> JavaString:
        return JavaString(re.sub(regex, replacement, self))


def escape_javascript(value: str) -> JavaString:
    out = []
    for char in value:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 32 or ord(char) > 0x7F:
            out.append("".join(f"\\u{unit:04X}" for unit in _utf16_units(char)))
        else:
            out.append(char)
    return JavaString("".join(out))


def _utf16_units(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


class _Util:
    def escapeJavaScript(self, value: str) -> JavaString:
        return escape_javascript(value)


def render(template: str, *, context: Mapping[str, object]) -> str:
    return airspeed.Template(template).merge({"context": context, "util": _Util()})
